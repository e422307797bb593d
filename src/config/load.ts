/**
 * Where configuration comes from: a YAML or JSON file, then command-line flags and ZKPROXY_*
 * environment variables (yargs maps both) on top. The merged result is validated as a whole.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, validateConfig, type ProxyConfig } from './config.ts';

export interface ConfigOverrides {
  /** Path of a YAML/JSON file. */
  config?: string | undefined;
  ensemble?: string | undefined;
  /** "name=host:port[,host:port...]" entries, each adding a tenant (or listeners to one from the file). */
  tenant?: string[] | undefined;
  admin?: string | undefined;
  logLevel?: string | undefined;
  drainMs?: number | undefined;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = parseYaml(text); // YAML is a superset of JSON
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('top level must be a mapping');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`config file ${path}: ${(error as Error).message}`);
  }
}

export function loadConfig(overrides: ConfigOverrides): ProxyConfig {
  return validateConfig(rawConfig(overrides));
}

/** The unvalidated configuration: the file (read now) with flags and environment on top. */
export function rawConfig(overrides: ConfigOverrides): Record<string, unknown> {
  const raw: Record<string, unknown> = overrides.config ? readConfigFile(overrides.config) : {};
  if (overrides.ensemble) raw.ensemble = overrides.ensemble;
  // The secret comes from the file or the environment, never from a flag (flags show in `ps`).
  const security = (raw.security ?? {}) as Record<string, unknown>;
  if (security.secret === undefined && security.secretFile === undefined && process.env.ZKPROXY_SECRET) {
    raw.security = { ...security, secret: process.env.ZKPROXY_SECRET };
  }
  const admin = (raw.admin ?? {}) as Record<string, unknown>;
  if (admin.token === undefined && admin.tokenFile === undefined && process.env.ZKPROXY_ADMIN_TOKEN)
    raw.admin = { ...admin, token: process.env.ZKPROXY_ADMIN_TOKEN };
  if (overrides.admin !== undefined) raw.admin = { ...(raw.admin as object), listen: overrides.admin === 'off' ? null : overrides.admin };
  if (overrides.logLevel) raw.log = { ...(raw.log as object), level: overrides.logLevel };
  if (overrides.drainMs !== undefined) raw.drain = { ...(raw.drain as object), periodMs: overrides.drainMs };
  if (overrides.tenant?.length) {
    const tenants = Array.isArray(raw.tenants) ? [...(raw.tenants as Record<string, unknown>[])] : [];
    for (const entry of overrides.tenant) {
      const match = /^([^=]+)=(.+)$/.exec(entry);
      if (!match) throw new ConfigError(`--tenant "${entry}": expected name=host:port[,host:port]`);
      const [, name, listeners] = match as unknown as [string, string, string];
      const existing = tenants.find((t) => t.name === name);
      const list = listeners.split(',');
      if (existing) existing.listeners = [...((existing.listeners as string[]) ?? []), ...list];
      else tenants.push({ name, listeners: list });
    }
    raw.tenants = tenants;
  }
  return raw;
}
