/**
 * The configuration in force while the proxy runs: the file (plus flags and environment) and the
 * tenant registry in the ensemble, composed and validated as ONE configuration, so a registry
 * tenant can never clash with a file tenant (name, listener, chroot). An update that does not
 * validate is rejected whole; the last good configuration stays in force.
 *
 * Only tenants and the default limits change at runtime. Other keys that differ in a reloaded file
 * are reported (they need a restart) and keep their running values.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, validateConfig, type ProxyConfig } from './config.ts';
import { parseRegistry } from './registry.ts';

interface RawRegistry {
  revision: number;
  tenants: unknown[];
}

const RELOADABLE_KEYS = ['tenants', 'limits'] as const;

export interface ConfigUpdate {
  config: ProxyConfig;
  /** Top-level keys whose new values wait for a restart. */
  needsRestart: string[];
}

export class LiveConfig {
  current: ProxyConfig;
  private fileRaw: Record<string, unknown>;
  /** The registry as written (unvalidated input, like fileRaw) and its revision. */
  private registry: RawRegistry = { revision: 0, tenants: [] };
  private readonly readFile: (() => Record<string, unknown>) | undefined;
  private readonly check: (config: ProxyConfig) => string | undefined;

  /**
   * `fileRaw`: the unvalidated input `current` was validated from; `readFile` re-reads it (SIGHUP);
   * `check`: what this process cannot apply beyond validation (a problem, or undefined).
   */
  constructor(
    current: ProxyConfig,
    fileRaw: Record<string, unknown>,
    readFile?: () => Record<string, unknown>,
    check: (config: ProxyConfig) => string | undefined = () => undefined,
  ) {
    this.current = current;
    this.fileRaw = fileRaw;
    this.readFile = readFile;
    this.check = check;
  }

  get canReloadFile(): boolean {
    return this.readFile !== undefined;
  }

  get registryRevision(): number {
    return this.registry.revision;
  }

  /** Re-reads the file; throws ConfigError (nothing changes) when it does not validate. */
  reloadFile(): ConfigUpdate {
    if (this.readFile === undefined) throw new ConfigError('no configuration file to reload');
    const fileRaw = this.readFile();
    const update = this.compose(fileRaw, this.registry);
    this.fileRaw = fileRaw;
    return this.commit(update);
  }

  /** A new registry znode content; throws ConfigError (nothing changes) when it does not validate. */
  applyRegistry(data: Buffer | null): ConfigUpdate {
    const parsed = parseRegistry(data); // the document alone is valid: now check it with the file
    const registry = {
      revision: parsed.revision,
      tenants: data === null || data.length === 0 ? [] : ((JSON.parse(data.toString('utf8')) as { tenants?: unknown[] }).tenants ?? []),
    };
    const update = this.compose(this.fileRaw, registry);
    this.registry = registry;
    return this.commit(update);
  }

  private compose(fileRaw: Record<string, unknown>, registry: RawRegistry): ConfigUpdate {
    const fileTenants = Array.isArray(fileRaw.tenants) ? (fileRaw.tenants as unknown[]) : [];
    let config: ProxyConfig;
    try {
      config = validateConfig({ ...fileRaw, tenants: [...fileTenants, ...registry.tenants] });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // Name the registry's own entries as such, not by their index in the merged list.
      throw new ConfigError(
        error.message.replace(/\btenants\[(\d+)\]/g, (match, index: string) =>
          Number(index) < fileTenants.length ? match : `registry.tenants[${Number(index) - fileTenants.length}]`,
        ),
      );
    }
    const problem = this.check(config);
    if (problem !== undefined) throw new ConfigError(`invalid configuration:\n  tenants: ${problem}`);
    const needsRestart = Object.keys({ ...config, ...this.current }).filter(
      (key) =>
        !(RELOADABLE_KEYS as readonly string[]).includes(key) &&
        !isDeepStrictEqual(config[key as keyof ProxyConfig], this.current[key as keyof ProxyConfig]),
    );
    // Keys that need a restart keep their running values.
    const effective = { ...this.current, tenants: config.tenants, limits: config.limits };
    return { config: effective, needsRestart };
  }

  private commit(update: ConfigUpdate): ConfigUpdate {
    this.current = update.config;
    return update;
  }
}
