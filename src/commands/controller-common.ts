/**
 * What the `tenant`, `cluster` and `controller` commands share: their connection flags, loading
 * the controller configuration, printing results, and exit codes
 * (0 done, 1 failure, 2 invalid request or configuration, 3 no such tenant, 4 conflict).
 */
import type { Argv } from 'yargs';
import { ConfigError } from '../config/config.ts';
import { cliActor, openContext, type ControllerContext } from '../controller/context.ts';
import { ConflictError, NotFoundError, ValidationError } from '../controller/errors.ts';
import { OUTPUT_FORMATS, formatOutput, type OutputFormat } from '../controller/output.ts';
import { loadSettings, type ControllerSettings } from '../controller/settings.ts';

/** Environment-only settings: declared so that ZKPROXY_* passes yargs' strict mode, refused as flags. */
const SECRET_OPTIONS = ['secret', 'api-token', 'ensemble-admin'] as const;

export function withControllerOptions<T>(command: Argv<T>) {
  let built = command
    .option('config', { type: 'string', describe: 'controller configuration file (YAML or JSON)' })
    .option('ensemble', { type: 'string', describe: 'shared ensemble host:port[,host:port...] (overrides the file)' })
    .option('secret-file', { type: 'string', describe: "file holding the proxies' shared secret (overrides security.secretFile)" })
    .option('manifest-dir', {
      type: 'string',
      describe: 'apply manifests by writing them to this directory (overrides apply: in the file)',
    })
    .option('output', { alias: 'o', choices: OUTPUT_FORMATS, default: 'table' as OutputFormat, describe: 'output format' })
    .option('log-level', { type: 'string', describe: 'trace|debug|info|warn|error|fatal|silent' });
  for (const name of SECRET_OPTIONS) built = built.option(name, { type: 'string', hidden: true }) as typeof built;
  return built;
}

export interface ControllerArgs {
  config?: string | undefined;
  ensemble?: string | undefined;
  manifestDir?: string | undefined;
  secretFile?: string | undefined;
  output: OutputFormat;
  logLevel?: string | undefined;
  httpListen?: string | undefined;
}

export function settingsFromArgs(args: ControllerArgs): ControllerSettings {
  const flag = process.argv.find((arg) => SECRET_OPTIONS.some((name) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
  if (flag !== undefined)
    throw new ConfigError(
      `${flag.split('=')[0]} cannot be a flag (it would show in ps): use ZKPROXY_SECRET / ZKPROXY_API_TOKEN / ZKPROXY_ENSEMBLE_ADMIN or the configuration file`,
    );
  return loadSettings({
    config: args.config,
    ensemble: args.ensemble,
    secretFile: args.secretFile,
    manifestDir: args.manifestDir,
    httpListen: args.httpListen,
    logLevel: args.logLevel,
  });
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof ValidationError || error instanceof ConfigError) return 2;
  if (error instanceof NotFoundError) return 3;
  if (error instanceof ConflictError) return 4;
  return 1;
}

export function reportError(error: unknown): void {
  const problems = error instanceof ValidationError ? error.problems : [(error as Error).message];
  process.stderr.write(
    `zookeeper-proxy: ${problems.length === 1 ? problems[0] : `invalid request:\n${problems.map((p) => `  ${p}`).join('\n')}`}\n`,
  );
}

/** Runs one operation in a fresh session (converging the tenant before returning), prints its result, exits. */
export async function runOperation<T>(
  args: ControllerArgs,
  operation: (context: ControllerContext) => Promise<T>,
  print: (result: T) => void = (result) => process.stdout.write(formatOutput(result, args.output)),
): Promise<never> {
  let code = 0;
  let context: ControllerContext | undefined;
  try {
    const settings = settingsFromArgs(args);
    context = await openContext(settings, cliActor(), true);
    print(await operation(context));
  } catch (error) {
    reportError(error);
    code = exitCodeOf(error);
  } finally {
    await context?.close().catch(() => {});
  }
  process.exit(code);
}

/** "key=value" flags into an object; numeric values become numbers. */
export function keyValues(entries: readonly string[] | undefined, flag: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const entry of entries ?? []) {
    const match = /^([^=]+)=(.*)$/.exec(entry);
    if (!match) throw new ValidationError([`--${flag} "${entry}": expected key=value`]);
    result[match[1]!] = numberOrText(match[2]!);
  }
  return result;
}

/** A flag value as a number when it reads as one, else the text (so that messages can quote it). */
export function numberOrText(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
}
