/** The controller's CLI as child processes: `zookeeper-proxy <args> --config <file> -o json`, with the tests' shared secret. */
import { join } from 'node:path';
import { TEST_SECRET } from './proxy.ts';
import { expectSuccess, runProcess, type RunResult } from './run-process.ts';

export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export function controllerCli(configFile: string, ...args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [CLI, ...args, '--config', configFile, '-o', 'json'], {
    env: { ZKPROXY_SECRET: TEST_SECRET },
    timeoutMs: 60_000,
  });
}

/** Its JSON output; a failure (exit code, stderr) fails the test. */
export async function controllerCliJson<T = Record<string, any>>(configFile: string, ...args: string[]): Promise<T> {
  return JSON.parse(expectSuccess(`zookeeper-proxy ${args.join(' ')}`, await controllerCli(configFile, ...args)).stdout) as T;
}
