/**
 * The controller's CLI (a real child process) against the real ensemble, for the real-Flink
 * scenario: `tenant create`, `cluster deploy` and `cluster destroy`, with manifests applied into
 * a directory, and the flink-conf.yaml of the JobManager and TaskManager ConfigMaps it wrote.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { JOBMANAGER_NAME, TASKMANAGER_NAME, parseFlinkConfig, type FlinkConfig } from '../../src/controller/flink-config.ts';
import { TEST_SECRET } from '../support/proxy.ts';
import { expectSuccess, runProcess } from '../support/run-process.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export class ControllerCli {
  readonly configFile: string;
  readonly manifests: string;

  constructor(dir: string, ensemble: string) {
    this.configFile = join(dir, 'controller.json');
    this.manifests = join(dir, 'manifests');
    writeFileSync(
      this.configFile,
      JSON.stringify({
        ensemble,
        security: { ensembleAdmin: 'super:super-secret' },
        controller: { reconcileIntervalMs: 60_000, sessionTimeoutMs: 4000 },
        platform: { domain: 'poc.example.com', proxyAddress: '127.0.0.1:{port}', tenantListenerHost: '127.0.0.1' },
        apply: { mode: 'directory', directory: this.manifests },
        log: { level: 'warn' },
      }),
    );
  }

  /** `zookeeper-proxy <args> --config <file> -o json`; the parsed answer. */
  async run(...args: string[]): Promise<Record<string, any>> {
    const result = await runProcess(process.execPath, [CLI, ...args, '--config', this.configFile, '-o', 'json'], {
      env: { ZKPROXY_SECRET: TEST_SECRET },
      timeoutMs: 60_000,
    });
    return JSON.parse(expectSuccess(`zookeeper-proxy ${args.join(' ')}`, result).stdout) as Record<string, any>;
  }

  /** The applied cluster's flink-conf.yaml per role, parsed; undefined when no cluster is applied. */
  renderedConfig(tenant: string): { jobmanager: FlinkConfig; taskmanager: FlinkConfig } | undefined {
    const file = join(this.manifests, tenant, 'cluster.yaml');
    if (!existsSync(file)) return undefined;
    const configMaps = new Map<string, string>();
    for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const manifest = document.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> } | null;
      const conf = manifest?.data?.['flink-conf.yaml'];
      if (manifest?.kind === 'ConfigMap' && conf !== undefined) configMaps.set(manifest.metadata?.name ?? '', conf);
    }
    const conf = (name: string) => parseFlinkConfig(configMaps.get(`${name}-config`) ?? fail(`no ConfigMap ${name}-config in ${file}`));
    return { jobmanager: conf(JOBMANAGER_NAME), taskmanager: conf(TASKMANAGER_NAME) };
  }
}

function fail(message: string): never {
  throw new Error(message);
}
