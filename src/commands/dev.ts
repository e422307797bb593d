import { LocalEnsemble } from '../embedded/ensemble.ts';

export interface DevOptions {
  size: number;
}

/**
 * Runs a throw-away ZooKeeper ensemble until SIGINT/SIGTERM, then removes it.
 *
 * stdout starts with one JSON line describing the endpoints (for scripts); the instructions for
 * humans follow it.
 */
export async function runDev(options: DevOptions): Promise<void> {
  const ensemble = await LocalEnsemble.start({ size: options.size });
  // Listening here also tells the fixture's own last-resort signal handler to stand back and
  // let this graceful shutdown run.
  const shutdown = waitForShutdownSignal();
  try {
    const endpoints = { ensemble: ensemble.connectString(), admin: null, tenants: {} };
    process.stdout.write(`${JSON.stringify(endpoints)}\n`);
    process.stdout.write(instructions(ensemble));
    const signal = await shutdown;
    process.stderr.write(`\n${signal}: stopping the ensemble\n`);
  } finally {
    await ensemble.close();
  }
}

function instructions(ensemble: LocalEnsemble): string {
  const connectString = ensemble.connectString();
  const { user, password } = ensemble.superAuth;
  const kazoo = `from kazoo.client import KazooClient; zk = KazooClient(hosts='${connectString}'); zk.start(); print(zk.get_children('/')); zk.stop()`;
  return `
ZooKeeper ensemble of ${ensemble.members.length} is up on ${connectString}
  data and logs:  ${ensemble.baseDir}/member-<id>/ (zookeeper.log)
  super user:     digest ${user}:${password}

Connect with the ZooKeeper shell:
  /usr/share/zookeeper/bin/zkCli.sh -server ${connectString}
  (inside it, \`addauth digest ${user}:${password}\` to act as the super user)

Connect with kazoo (Debian's python, where python3-kazoo is installed):
  /usr/bin/python3 -c "${kazoo}"

Ctrl-C stops the ensemble and deletes its data.
`;
}

function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
