/** The controller CLI (`zookeeper-proxy tenant|cluster ...`) as real child processes, JSON output. */
import { join } from 'node:path';
import { TEST_SECRET } from './proxy.ts';
import { expectSuccess, runProcess, type RunResult } from './run-process.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export interface ControllerCli {
  /** `zookeeper-proxy <args> --config <file> -o json` (asynchronous: an in-process proxy shares this event loop). */
  cli(...args: string[]): Promise<RunResult>;
  /** The same, expected to succeed; its stdout parsed. */
  cliJson<T = Record<string, any>>(...args: string[]): Promise<T>;
}

/** `configFile`: read at each call (test files set it in beforeAll). */
export function controllerCli(configFile: () => string): ControllerCli {
  const cli = (...args: string[]) =>
    runProcess(process.execPath, [CLI, ...args, '--config', configFile(), '-o', 'json'], {
      env: { ZKPROXY_SECRET: TEST_SECRET },
      timeoutMs: 60_000,
    });
  return {
    cli,
    cliJson: async <T = Record<string, any>>(...args: string[]) =>
      JSON.parse(expectSuccess(`zookeeper-proxy ${args.join(' ')}`, await cli(...args)).stdout) as T,
  };
}
