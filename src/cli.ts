#!/usr/bin/env node
/**
 * zookeeper-proxy command line. Flags can also come from ZKPROXY_* environment variables
 * (ZKPROXY_CONFIG, ZKPROXY_ENSEMBLE, ZKPROXY_LOG_LEVEL, ...).
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError, validateConfig, type ProxyConfig } from './config/config.ts';
import { rawConfig } from './config/load.ts';
import { runDev } from './commands/dev.ts';
import { clusterCommands } from './commands/cluster.ts';
import { runController } from './commands/controller.ts';
import { exitCodeOf, reportError, settingsFromArgs, withControllerOptions } from './commands/controller-common.ts';
import { tenantCommands } from './commands/tenant.ts';
import { exitOnSignals, reloadOnSignalAndChange, startProxy } from './commands/serve.ts';
import { createLogger } from './observability/logger.ts';
import { WORKER_SHARE_ENV, runPrimary, serveWorker, workerCount } from './server/workers.ts';

await yargs(hideBin(process.argv))
  .scriptName('zookeeper-proxy')
  .env('ZKPROXY')
  .command(
    'serve',
    'Run the proxy: tenant listeners in front of one shared ZooKeeper ensemble',
    (command) =>
      command
        .option('config', { type: 'string', describe: 'YAML or JSON configuration file' })
        .option('ensemble', { type: 'string', describe: 'shared ensemble, host:port[,host:port...] (overrides the file)' })
        .option('tenant', { type: 'string', array: true, describe: 'add a tenant: name=host:port[,host:port] (repeatable)' })
        .option('admin', { type: 'string', describe: 'admin HTTP listener host:port, or "off" (default 127.0.0.1:9464)' })
        .option('log-level', { type: 'string', describe: 'trace|debug|info|warn|error|fatal|silent' })
        .option('drain-ms', { type: 'number', describe: 'SIGTERM drain period in ms (default 10000)' })
        .option('workers', {
          type: 'number',
          describe: 'event loops sharing the listeners (default: one per CPU; limits are split between them)',
        })
        // Only so that ZKPROXY_SECRET passes yargs' strict mode: a secret on the command line
        // would show in `ps`, so the flag itself is refused below.
        .option('secret', { type: 'string', hidden: true })
        .option('admin-token', { type: 'string', hidden: true })
        .example('$0 serve --ensemble zk1:2181,zk2:2181,zk3:2181 --tenant acme=0.0.0.0:7451', 'one tenant on the default port'),
    async (args) => {
      if (process.argv.some((arg) => /^--(secret|admin-token)(=|$)/.test(arg))) {
        process.stderr.write(
          'zookeeper-proxy: pass secrets as environment variables (ZKPROXY_SECRET, ZKPROXY_ADMIN_TOKEN) or files (security.secretFile, admin.tokenFile), never as a flag (it would show in ps)\n',
        );
        process.exit(2);
      }
      const overrides = {
        config: args.config,
        ensemble: args.ensemble,
        tenant: args.tenant,
        admin: args.admin,
        logLevel: args.logLevel,
        drainMs: args.drainMs,
      };
      let config: ProxyConfig;
      let raw: Record<string, unknown>;
      try {
        raw = rawConfig(overrides);
        config = validateConfig(raw);
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`zookeeper-proxy: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      const workers = workerCount(args.workers, availableParallelism());
      const zeroPorts = workers > 1 ? config.tenants.flatMap((t) => t.listeners.filter((l) => l.port === 0).map(() => t.name)) : [];
      if (zeroPorts.length > 0) {
        // Workers share listeners through the primary, which would give every port-0 listener the same port.
        process.stderr.write(`zookeeper-proxy: listeners on port 0 (tenants ${[...new Set(zeroPorts)].join(', ')}) need --workers 1\n`);
        process.exit(2);
      }
      const log = createLogger(config.log.level);
      try {
        if (workers > 1 && cluster.isPrimary) {
          await runPrimary(config, log, workers);
          log.info('stopped');
          log.flush();
          process.exit(0);
        }
        const share = cluster.isWorker ? Number(process.env[WORKER_SHARE_ENV] ?? '1') : 1;
        const proxy = await startProxy(
          cluster.isWorker ? { ...config, admin: { ...config.admin, listen: null } } : config,
          log,
          { raw, ...(args.config ? { readFile: () => rawConfig(overrides) } : {}) },
          share,
        );
        if (cluster.isWorker) serveWorker(proxy, log);
        else exitOnSignals(proxy, config, log);
        reloadOnSignalAndChange(proxy, args.config, log);
      } catch (error) {
        log.fatal({ err: error }, 'cannot start');
        log.flush();
        process.exit(1);
      }
    },
  )
  .command(
    'dev',
    'Embedded default: a local ZooKeeper ensemble plus the proxy with two demo tenants, until Ctrl-C (prints the endpoints as one JSON line first)',
    (command) =>
      command
        .option('size', { type: 'number', default: 3, describe: 'members of each ensemble, 1..5' })
        .option('ensembles', { type: 'number', default: 1, describe: 'local ensembles, 1..5 (demo-a on the first, demo-b on the second)' })
        .option('port', {
          type: 'number',
          default: 7451,
          describe: 'first demo tenant port (the next one is the second tenant; any free port if taken)',
        })
        .option('admin-port', { type: 'number', default: 9464, describe: 'admin HTTP port (any free port if taken)' })
        .option('log-level', { type: 'string', default: 'info', describe: 'proxy log level (logs go to stderr)' }),
    (args) => runDev({ size: args.size, ensembles: args.ensembles, port: args.port, adminPort: args.adminPort, logLevel: args.logLevel }),
  )
  .command('tenant', 'Tenants: create, update limits, list, delete (controller)', tenantCommands)
  .command('cluster', "A tenant's Flink cluster: deploy, destroy, status (controller)", clusterCommands)
  .command(
    'controller',
    'Run a controller replica: leader election, the reconcile loop, the HTTP API',
    (command) =>
      withControllerOptions(command).option('http-listen', {
        type: 'string',
        describe: 'HTTP API listener host:port, or "off" (overrides controller.http.listen)',
      }),
    async (args) => {
      try {
        await runController(settingsFromArgs(args));
      } catch (error) {
        reportError(error);
        process.exit(exitCodeOf(error));
      }
    },
  )
  .demandCommand(1)
  .strict()
  .help()
  .parseAsync();
