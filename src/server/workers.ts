/**
 * `serve --workers N`: N event loops (node:cluster workers) share the listeners, so one proxy
 * process tree uses every core. The primary accepts connections and hands them to workers round
 * robin, restarts a worker that dies, relays signals, and serves the admin listener: metrics summed
 * over the workers, readiness, and a merged /admin/state.
 *
 * Limits stay per tenant across workers as per-worker shares: each worker enforces 1/N of every
 * per-process limit (request rate and burst, connections, in-flight, watches, memory). Round-robin
 * accept spreads a tenant's connections evenly, so the sum matches the configured limit closely;
 * a tenant with fewer connections than workers gets less than its full rate (see docs/operations.md).
 * Quotas (znodes, bytes) are the ensemble's and are not divided.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import { AdminServer } from '../admin/admin-server.ts';
import { EnsembleMembers } from '../backend/members.ts';
import { EnsembleProbe } from '../backend/probe.ts';
import { ensembleOfTenant, ensemblesOf, formatHostPort, resolveAdminToken, type ProxyConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { ensemblesReady } from './ensemble-backend.ts';
import type { ProxyServer } from './proxy-server.ts';

/** Environment variable telling a worker its share divisor. */
// Not ZKPROXY_*: yargs would read those as flags.
export const WORKER_SHARE_ENV = 'ZOOKEEPER_PROXY_WORKER_SHARE';

type WorkerMessage =
  | { type: 'zkproxy:listening'; listeners: string[]; tlsListeners: string[] }
  | { type: 'zkproxy:describe-reply'; id: string; view: unknown }
  | { type: 'zkproxy:reload-reply'; id: string; applied: boolean };

type PrimaryMessage =
  | { type: 'zkproxy:describe'; id: string }
  | { type: 'zkproxy:reload'; id: string }
  | { type: 'zkproxy:drain'; periodMs: number };

const RESTART_DELAY_MS = 1000;
const REPLY_TIMEOUT_MS = 3000;

/**
 * Workers not yet dead. A worker whose process exited stays in cluster.workers until its IPC
 * channel is also closed, and those two events come in either order: counting cluster.workers
 * would miss the last exit.
 */
function runningWorkers(): number {
  return Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined && !worker.isDead()).length;
}

/** The worker count the flag asks for: a number, or the machine's cores when absent or 0. */
export function workerCount(requested: number | undefined, cores: number): number {
  return requested === undefined || requested <= 0 ? cores : requested;
}

/** Runs in the primary; resolves when every worker has exited after a drain. */
export async function runPrimary(config: ProxyConfig, log: Logger, workers: number): Promise<void> {
  const registry = new AggregatorRegistry();
  const own = new Registry();
  const alive = new Gauge({ name: 'zkproxy_workers', help: 'Worker event loops running now', registers: [own] });
  const restarts = new Gauge({ name: 'zkproxy_worker_restarts', help: 'Workers restarted after they died', registers: [own] });
  // The primary knows the file's tenants only: their ensembles, and the home one (the registry's).
  const serving = new Set(config.tenants.map((tenant) => ensembleOfTenant(config, tenant)));
  const probes = ensemblesOf(config)
    .filter((ensemble, index) => index === 0 || serving.has(ensemble.name))
    .map((ensemble) => ({
      name: ensemble.name,
      probe: new EnsembleProbe(
        new EnsembleMembers(ensemble.members, {
          initialMs: config.backend.failureBackoffInitialMs,
          maxMs: config.backend.failureBackoffMaxMs,
        }),
      ),
    }));
  let draining = false;
  let restartCount = 0;
  const pending = new Map<string, (message: WorkerMessage) => void>();

  const ask = <T>(message: PrimaryMessage & { id: string }, pick: (reply: WorkerMessage) => T | undefined): Promise<T[]> => {
    const targets = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w?.isConnected() === true);
    return new Promise((resolve) => {
      const replies: T[] = [];
      const timer = setTimeout(finish, REPLY_TIMEOUT_MS);
      function finish() {
        clearTimeout(timer);
        pending.delete(message.id);
        resolve(replies);
      }
      pending.set(message.id, (reply) => {
        const value = pick(reply);
        if (value !== undefined) replies.push(value);
        if (replies.length >= targets.length) finish();
      });
      if (targets.length === 0) finish();
      for (const worker of targets) worker.send(message);
    });
  };

  const fork = (index: number) => {
    const worker = cluster.fork({ [WORKER_SHARE_ENV]: String(workers), ZOOKEEPER_PROXY_WORKER_INDEX: String(index) });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'zkproxy:listening') listening(message);
      else if ('id' in message) pending.get(message.id)?.(message);
    });
    worker.once('exit', (code, signal) => {
      alive.set(runningWorkers());
      if (draining) return;
      restartCount++;
      restarts.set(restartCount);
      log.error({ worker: index, code, signal, restartInMs: RESTART_DELAY_MS }, 'worker died; restarting it');
      setTimeout(() => !draining && fork(index), RESTART_DELAY_MS).unref();
    });
  };

  let announced = false;
  let listeningCount = 0;
  let adminAddress: string | undefined;
  const listening = (message: Extract<WorkerMessage, { type: 'zkproxy:listening' }>) => {
    alive.set(runningWorkers());
    if (announced || ++listeningCount < workers) return;
    announced = true;
    log.info(
      {
        workers,
        listeners: message.listeners,
        tlsListeners: message.tlsListeners,
        admin: adminAddress,
        ensemble: ensemblesOf(config)[0]!.members.map(formatHostPort),
      },
      'proxy listening',
    );
  };

  const drain = (periodMs: number) => {
    if (draining) return;
    draining = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send({ type: 'zkproxy:drain', periodMs } satisfies PrimaryMessage);
  };

  const admin =
    config.admin.listen === null
      ? undefined
      : new AdminServer(
          {
            ready: async () => {
              if (draining) return { ready: false, reason: 'draining' };
              if (runningWorkers() === 0) return { ready: false, reason: 'no worker running' };
              return ensemblesReady(probes);
            },
            describe: async () => ({
              workers: await ask({ type: 'zkproxy:describe', id: randomUUID() }, (r) =>
                r.type === 'zkproxy:describe-reply' ? r.view : undefined,
              ),
            }),
            metrics: async () => ({
              text: `${await registry.clusterMetrics()}\n${await own.metrics()}`,
              contentType: registry.contentType,
            }),
            reload: async () =>
              (
                await ask({ type: 'zkproxy:reload', id: randomUUID() }, (r) => (r.type === 'zkproxy:reload-reply' ? r.applied : undefined))
              ).every(Boolean),
            drain: () => drain(config.drain.periodMs),
          },
          resolveAdminToken(config),
        );
  if (admin !== undefined && config.admin.listen !== null) adminAddress = formatHostPort(await admin.listen(config.admin.listen));
  for (let i = 0; i < workers; i++) fork(i);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signal === 'SIGHUP') {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
        return;
      }
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      log.info({ signal, workers }, 'shutting down');
      drain(signal === 'SIGTERM' ? config.drain.periodMs : config.drain.fastPeriodMs);
    };
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
    cluster.on('exit', () => {
      if (draining && runningWorkers() === 0) resolve();
    });
  });
  await admin?.close();
}

/** Runs in a worker: answers the primary's questions about this worker's proxy. */
export function serveWorker(proxy: ProxyServer, log: Logger): void {
  AggregatorRegistry.setRegistries([proxy.metrics.registry]);
  new AggregatorRegistry(); // installs prom-client's reply to the primary's metrics requests
  const send = (message: WorkerMessage) => process.send?.(message);
  send({
    type: 'zkproxy:listening',
    listeners: proxy.listenerAddresses().map((l) => `${l.tenant}@${formatHostPort(l.address)}`),
    tlsListeners: proxy.tlsListenerAddresses().map(formatHostPort),
  });
  process.on('message', (message: PrimaryMessage) => {
    switch (message.type) {
      case 'zkproxy:describe':
        send({ type: 'zkproxy:describe-reply', id: message.id, view: proxy.describe() });
        return;
      case 'zkproxy:reload':
        void proxy.reloadFile().then((applied) => send({ type: 'zkproxy:reload-reply', id: message.id, applied }));
        return;
      case 'zkproxy:drain':
        void proxy
          .drain(message.periodMs)
          .then(() => proxy.close())
          .then(
            () => {
              log.flush();
              process.exit(0);
            },
            (error: unknown) => {
              // Exit anyway: the primary waits for every worker before it exits itself.
              log.error({ err: error }, 'worker drain failed');
              log.flush();
              process.exit(1);
            },
          );
        return;
    }
  });
  // The primary relays signals; a worker that sees SIGTERM/SIGINT itself (a process group
  // signal) leaves the drain to the primary's message instead of exiting on its own.
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
}
