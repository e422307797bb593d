/** `zookeeper-proxy cluster deploy|destroy|status`: a tenant's Flink cluster. */
import type { Argv } from 'yargs';
import { FLINK_VERSIONS } from '../controller/spec.ts';
import { numberOrText, runOperation, withControllerOptions, type ControllerArgs } from './controller-common.ts';

/** Only the flags given: the platform's defaults fill in the rest. */
function clusterRequest(args: Record<string, unknown>): Record<string, unknown> {
  const pick = (entries: [string, unknown][]) => Object.fromEntries(entries.filter(([, v]) => v !== undefined));
  const text = (key: string) => numberOrText(args[key] as string | undefined);
  const jobManager = pick([['cpu', text('jobmanagerCpu')], ['memoryMb', text('jobmanagerMemory')]]);
  const taskManager = pick([['cpu', text('taskmanagerCpu')], ['memoryMb', text('taskmanagerMemory')], ['instances', text('taskmanagers')]]);
  return pick([
    ['flinkVersion', args.flinkVersion],
    ['zone', args.zone],
    ['jobManager', Object.keys(jobManager).length > 0 ? jobManager : undefined],
    ['taskManager', Object.keys(taskManager).length > 0 ? taskManager : undefined],
  ]);
}

export function clusterCommands(yargs: Argv): Argv {
  return yargs
    .command(
      'deploy <tenant>',
      'Deploy (or change) the tenant\'s Flink cluster: render its Flink configuration and Kubernetes manifests, and apply them',
      (command) =>
        withControllerOptions(command)
          .positional('tenant', { type: 'string', demandOption: true })
          .option('flink-version', { type: 'string', demandOption: true, describe: `Flink version (${FLINK_VERSIONS.join(' or ')})` })
          .option('zone', { type: 'string', describe: 'zone (default platform.defaultZone)' })
          .option('jobmanager-cpu', { type: 'string', describe: 'JobManager CPUs (default 0.3, minimum 0.3)' })
          .option('jobmanager-memory', { type: 'string', describe: 'JobManager memory in MB (default 1024, minimum 1024)' })
          .option('taskmanager-cpu', { type: 'string', describe: 'TaskManager CPUs (default 0.3, minimum 0.3)' })
          .option('taskmanager-memory', { type: 'string', describe: 'TaskManager memory in MB (default 3072, minimum 1024)' })
          .option('taskmanagers', { type: 'string', describe: 'TaskManager instances (default 2, minimum 1)' }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.deploy(args.tenant, clusterRequest(args))),
    )
    .command(
      'destroy <tenant>',
      'Remove the Flink cluster\'s workloads and UI vhost; the tenant\'s ZooKeeper state, proxy entry, job volume and bucket stay for the next deploy',
      (command) => withControllerOptions(command).positional('tenant', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.destroy(args.tenant)),
    )
    .command(
      'status <tenant>',
      'What is deployed (with resources) and the tenant\'s ZooKeeper usage against its quota',
      (command) => withControllerOptions(command).positional('tenant', { type: 'string', demandOption: true }),
      (args) => runOperation(args as ControllerArgs, ({ operations }) => operations.status(args.tenant)),
    )
    .demandCommand(1);
}
