/** `zookeeper-proxy serve`: run the proxy until SIGTERM (drain, exit 0) or SIGINT (drain fast). */
import type { ProxyConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { ProxyServer } from '../server/proxy-server.ts';

export async function startProxy(config: ProxyConfig, log: Logger): Promise<ProxyServer> {
  const proxy = new ProxyServer(config, log);
  await proxy.start();
  return proxy;
}

/**
 * SIGTERM drains over drain.periodMs, SIGINT over drain.fastPeriodMs; a second signal exits at
 * once. `cleanup` runs after the drain (the dev command stops its ensemble there).
 */
export function exitOnSignals(proxy: ProxyServer, config: ProxyConfig, log: Logger, cleanup: () => Promise<void> = async () => {}): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const period = signal === 'SIGTERM' ? config.drain.periodMs : config.drain.fastPeriodMs;
    log.info({ signal, periodMs: period }, 'shutting down');
    proxy
      .drain(period)
      .then(() => proxy.close())
      .then(cleanup)
      .then(
        () => {
          log.info('stopped');
          log.flush();
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          log.flush();
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
