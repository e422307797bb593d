/** `zookeeper-proxy serve`: run the proxy until SIGTERM (drain, exit 0) or SIGINT (drain fast). */
import type { ProxyConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { ProxyServer, type ConfigSource } from '../server/proxy-server.ts';
import { readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';

export async function startProxy(config: ProxyConfig, log: Logger, source: ConfigSource, share = 1): Promise<ProxyServer> {
  const proxy = new ProxyServer(config, log, undefined, source, { share });
  await proxy.start();
  return proxy;
}

/**
 * SIGHUP, or a change of the configuration file, reloads it. The directory is watched, not the
 * file: editors and Kubernetes ConfigMap updates replace the file (rename, symlink swap), which
 * a watch on the file itself would not survive. Bursts of events are coalesced.
 */
export function reloadOnSignalAndChange(proxy: ProxyServer, configFile: string | undefined, log: Logger): void {
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    void proxy.reloadFile();
  });
  if (configFile === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  let lastContent = readOrNull(configFile);
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const content = readOrNull(configFile);
      if (content === null || content === lastContent) return; // mid-replace, or no real change
      lastContent = content;
      log.info({ file: configFile }, 'configuration file changed; reloading');
      void proxy.reloadFile();
    }, 200);
    timer.unref();
  };
  try {
    watch(dirname(resolve(configFile)), { persistent: false }, changed).on('error', (error) =>
      log.warn({ err: error.message }, 'cannot watch the configuration file; SIGHUP still reloads it'),
    );
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'cannot watch the configuration file; SIGHUP still reloads it');
  }
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
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
