/**
 * `zookeeper-proxy controller`: one controller replica: leader election, the reconcile loop (on
 * the leader) and the HTTP API (on every replica). Runs until SIGTERM/SIGINT.
 */
import { formatHostPort } from '../config/config.ts';
import { ControllerApi } from '../controller/http-api.ts';
import { ControllerService } from '../controller/service.ts';
import { settingsApiToken, type ControllerSettings } from '../controller/settings.ts';
import { createLogger } from '../observability/logger.ts';

export async function runController(settings: ControllerSettings): Promise<void> {
  const log = createLogger(settings.log.level);
  const http = settings.controller.http.listen;
  const token = settingsApiToken(settings);
  if (http !== null && token === undefined) {
    throw new Error('controller.http.listen needs an API token (controller.http.token, controller.http.tokenFile or ZKPROXY_API_TOKEN)');
  }
  const service = new ControllerService(settings, log);
  await service.start();
  let api: ControllerApi | undefined;
  let apiAddress: string | null = null;
  if (http !== null) {
    api = new ControllerApi(
      {
        operations: () => service.current?.operations,
        health: async () => ({ ...service.state, leaderId: await service.leaderId() }),
      },
      token!,
      log,
    );
    apiAddress = formatHostPort(await api.listen(http));
  }
  log.info({ replica: service.replicaId, api: apiAddress, apply: settings.apply.mode }, 'controller running');
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    Promise.all([api?.close(), service.close()]).then(
      () => {
        log.info('controller stopped');
        log.flush();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
