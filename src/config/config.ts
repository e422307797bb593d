/**
 * The proxy's configuration: schema, defaults and the cross-field rules (no shared listener, no
 * overlapping chroots). Everything is validated before the proxy listens, with messages that name
 * the offending key.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEFAULT_MAX_FRAME_SIZE, validatePath } from 'jute-ts';
import { z } from 'zod';
import { DEFAULT_LIMITS, layeredLimits, LimitsSchema, type Limits, type LimitsInput } from '../limits/limits.ts';
import { Chroot } from '../tenancy/chroot.ts';
import { TENANT_FROM } from '../tenancy/tls-identity.ts';

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(?<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?<port>\d{1,5})$/;

/** `allowAnyPort`: port 0 asks the OS for a free port (listeners in tests and dev). */
export function parseHostPort(text: string, allowAnyPort = false): HostPort | string {
  const match = HOST_PORT.exec(text.trim());
  if (!match?.groups) return `"${text}" is not host:port`;
  const port = Number(match.groups.port);
  if (port < (allowAnyPort ? 0 : 1) || port > 65535) return `port ${port} in "${text}" is out of range ${allowAnyPort ? 0 : 1}..65535`;
  return { host: match.groups.host!.replace(/^\[|\]$/g, ''), port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export const listenAddress = z.string().transform((text, ctx) => {
  const parsed = parseHostPort(text, true);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

/** "h1:p1,h2:p2" as in a ZooKeeper connect string, without a chroot suffix. */
export const ensembleString = z.string().transform((text, ctx) => {
  if (text.includes('/')) {
    ctx.addIssue({ code: 'custom', message: `ensemble "${text}" must not carry a chroot suffix: chroots are per tenant` });
    return z.NEVER;
  }
  const members: HostPort[] = [];
  for (const part of text.split(',')) {
    const parsed = parseHostPort(part);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: `ensemble member ${parsed}` });
      return z.NEVER;
    }
    members.push(parsed);
  }
  const seen = new Set(members.map(formatHostPort));
  if (seen.size !== members.length) ctx.addIssue({ code: 'custom', message: `ensemble "${text}" lists a member twice` });
  return members;
});

const TENANT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENSEMBLE_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const ADMIN_FORMAT = /^[^:]+:.+$/;

/** The name the single ensemble of `ensemble: "h:p,..."` (the one-ensemble form) goes by. */
export const DEFAULT_ENSEMBLE_NAME = 'default';

export const ensembleName = z
  .string()
  .regex(ENSEMBLE_NAME, 'ensemble names are lower-case letters, digits and dashes (at most 32 characters)');

/** One shared ensemble of `ensembles:` (docs/ensembles.md). */
export const EnsembleSchema = z.strictObject({
  members: ensembleString,
  /** "user:password" with rights on this ensemble's tenant roots; overrides security.ensembleAdmin for it. */
  ensembleAdmin: z.string().regex(ADMIN_FORMAT, 'ensembleAdmin must be "user:password"').optional(),
  /** File holding this ensemble's ensembleAdmin; used when `ensembleAdmin` is absent. */
  ensembleAdminFile: z.string().optional(),
  /** What the controller's placement measures this ensemble's usage against (docs/controller.md#placement); the proxy ignores it. */
  capacity: z
    .strictObject({
      /** Znodes (mntr zk_znode_count) the ensemble is meant to hold. */
      znodes: z.number().int().positive().default(1_000_000),
      /** Bytes of paths and data (mntr zk_approximate_data_size): the in-memory tree and the snapshots. */
      bytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024 * 1024),
      /** Client connections summed over its members (mntr zk_num_alive_connections). */
      connections: z.number().int().positive().default(10_000),
    })
    .optional(),
});

/** Several named ensembles; the first named is the home ensemble (registry, controller state). */
export const ensemblesRecord = z
  .record(ensembleName, EnsembleSchema)
  .refine((record) => Object.keys(record).length > 0, 'name at least one ensemble');

const count = z.number().int().nonnegative();

export const TenantSchema = z.strictObject({
  name: z.string().regex(TENANT_NAME, 'tenant name must be lower-case letters, digits and dashes (DNS label, max 63)'),
  chroot: z.string().optional(),
  /** Plain TCP listeners, each serving this tenant only. May be empty when tlsListeners exist. */
  listeners: z.array(listenAddress).default([]),
  /** Overrides of the platform's default limits, key by key. */
  limits: LimitsSchema.optional(),
  /** The ensemble (a key of `ensembles`) holding this tenant's tree; default the first one. */
  ensemble: ensembleName.optional(),
  /**
   * Cut-over of a move between ensembles (docs/ensembles.md): every replica holds the tenant's
   * requests (answers nothing, forwards nothing) until the entry no longer says so.
   */
  hold: z.boolean().optional(),
});

/** A TLS listener serves every tenant: the verified client certificate names the tenant. */
export const TlsListenerSchema = z.strictObject({
  listen: listenAddress,
  /** PEM server certificate (chain), and its unencrypted PEM private key. */
  cert: z.string().min(1),
  key: z.string().min(1),
  /** PEM certificates of the CAs that sign client certificates; nothing else is accepted. */
  ca: z.string().min(1),
  /** Where the tenant name is read from (see src/tenancy/tls-identity.ts). */
  tenantFrom: z.enum(TENANT_FROM).default('cn'),
});

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const ConfigSchema = z
  .strictObject({
    /** One shared ensemble, "h1:p1,h2:p2" (named "default"); or `ensembles` for several. */
    ensemble: ensembleString.optional(),
    /** Several shared ensembles by name; tenants pick theirs with `tenants[].ensemble`. */
    ensembles: ensemblesRecord.optional(),
    /** Tenants from this file; more may come from the registry in the ensemble (`registry.path`). */
    tenants: z.array(TenantSchema).default([]),
    registry: z
      .strictObject({
        /**
         * A znode outside every tenant chroot whose data lists more tenants (src/config/registry.ts);
         * watched, so tenants are added, changed and removed while the proxy runs. null: off.
         */
        path: z.string().nullable().default(null),
        /**
         * Where every replica keeps its ephemeral record (docs/ensembles.md: registry version
         * applied, tenants quiesced), on the home ensemble; only while `path` is set.
         */
        replicasPath: z.string().default('/zkproxy/replicas'),
      })
      .prefault({}),
    /** Defaults for every tenant's limits. */
    limits: LimitsSchema.prefault({}),
    /** Caps over all tenants of this proxy process. */
    total: z
      .strictObject({
        /** Client connections over all tenants (0: unlimited). */
        maxConnections: count.default(20_000),
        /** Bytes the proxy may hold in buffers (pending writes, partial frames, held requests) before it stops reading. */
        maxBufferedBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024),
      })
      .prefault({}),
    /** The ensemble's jute.maxbuffer: a request that is larger once rewritten is refused before it is sent. */
    ensembleMaxFrameBytes: positiveInt.default(0xfffff),
    tlsListeners: z.array(TlsListenerSchema).default([]),
    /**
     * A tenant held (`tenants[].hold`, the cut-over of a move) longer than this has its client
     * connections closed, and new ones closed at once until the hold ends: a dead mover never
     * leaves clients hanging.
     */
    moveHoldMaxMs: positiveInt.default(10_000),
    admin: z
      .strictObject({
        listen: listenAddress.nullable().prefault('127.0.0.1:9464'),
        /** Bearer token for the mutating endpoints (POST /admin/reload, /admin/drain); also ZKPROXY_ADMIN_TOKEN. Without one they are disabled. */
        token: z.string().min(16, 'admin.token must be at least 16 characters').optional(),
        tokenFile: z.string().optional(),
      })
      .prefault({}),
    backend: z
      .strictObject({
        connectTimeoutMs: positiveInt.default(3000),
        failureBackoffInitialMs: positiveInt.default(500),
        failureBackoffMaxMs: positiveInt.default(30_000),
      })
      .prefault({}),
    security: z
      .strictObject({
        /** Shared by every replica (and the controller): derives tenant identities and session seals. */
        secret: z.string().min(16, 'security.secret must be at least 16 characters').optional(),
        /** File holding the secret (e.g. a mounted Kubernetes secret); used when `secret` is absent. */
        secretFile: z.string().optional(),
        /** "user:password" of a digest identity with rights to create tenant roots (e.g. the ensemble's super user). */
        ensembleAdmin: z.string().regex(ADMIN_FORMAT, 'ensembleAdmin must be "user:password"').optional(),
        /** File holding ensembleAdmin (e.g. a mounted Kubernetes secret), so no password sits in a ConfigMap; used when `ensembleAdmin` is absent. */
        ensembleAdminFile: z.string().optional(),
        /** Forward SASL (opcode 102); off by default: tenants authenticate through the proxy's identity. */
        allowSasl: z.boolean().default(false),
      })
      .prefault({}),
    client: z
      .strictObject({
        /** A connection that sends no ConnectRequest within this time is closed (ZooKeeper closes after ~10 s). */
        handshakeTimeoutMs: positiveInt.default(10_000),
      })
      .prefault({}),
    drain: z
      .strictObject({
        /** SIGTERM: stop accepting, then close connections spread over this period. */
        periodMs: nonNegativeInt.default(10_000),
        /** SIGINT: the same, faster. */
        fastPeriodMs: nonNegativeInt.default(500),
      })
      .prefault({}),
    /** Largest frame accepted from a client or the ensemble, length prefix excluded. */
    maxFrameBytes: positiveInt.max(0x7fffffff).default(DEFAULT_MAX_FRAME_SIZE),
    log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
  })
  .superRefine((config, ctx) => {
    if ((config.ensemble === undefined) === (config.ensembles === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['ensemble'],
        message: 'name the shared ensemble: either ensemble ("host:port,...") or ensembles ({name: {members}}), not both',
      });
    const ensembleNames = config.ensembles === undefined ? [DEFAULT_ENSEMBLE_NAME] : Object.keys(config.ensembles);
    config.tenants.forEach((tenant, index) => {
      if (tenant.ensemble !== undefined && !ensembleNames.includes(tenant.ensemble))
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', index, 'ensemble'],
          message: `unknown ensemble "${tenant.ensemble}" (configured: ${ensembleNames.join(', ')})`,
        });
    });
    const names = new Map<string, number>();
    const listeners = new Map<string, string>();
    const chroots: { tenant: string; chroot: Chroot; index: number }[] = [];
    config.tenants.forEach((tenant, index) => {
      if (names.has(tenant.name))
        ctx.addIssue({ code: 'custom', path: ['tenants', index, 'name'], message: `duplicate tenant name "${tenant.name}"` });
      names.set(tenant.name, index);
      tenant.listeners.forEach((listener, li) => {
        for (const [key, owner] of listeners) {
          const other = parseHostPort(key, true) as HostPort;
          if (listener.port === 0) continue;
          const wildcard = ['0.0.0.0', '::'].includes(listener.host) || ['0.0.0.0', '::'].includes(other.host);
          if (other.port === listener.port && (other.host === listener.host || wildcard)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tenants', index, 'listeners', li],
              message: `listener ${formatHostPort(listener)} clashes with ${key} of tenant "${owner}"`,
            });
          }
        }
        listeners.set(formatHostPort(listener), tenant.name);
      });
      if (tenant.listeners.length === 0 && config.tlsListeners.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', index, 'listeners'],
          message: 'a tenant needs at least one listener (or a tlsListeners entry)',
        });
      }
      try {
        const chroot = new Chroot(tenant.chroot ?? defaultChroot(tenant.name));
        for (const other of chroots) {
          if (other.chroot.overlaps(chroot)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tenants', index, 'chroot'],
              message: `chroot ${chroot.root} overlaps ${other.chroot.root} of tenant "${other.tenant}": tenants must not share a subtree`,
            });
          }
        }
        chroots.push({ tenant: tenant.name, chroot, index });
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['tenants', index, 'chroot'], message: (error as Error).message });
      }
    });
    if (config.tenants.length === 0 && config.registry.path === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['tenants'],
        message: 'at least one tenant is required (or a registry.path to read tenants from)',
      });
    }
    if (config.registry.path !== null) {
      // The platform's own znodes: a tenant whose chroot covered them could rewrite them.
      const platformPath = (key: 'path' | 'replicasPath', path: string, risk: string) => {
        const problem = validatePath(path);
        if (problem !== undefined || path === '/') {
          ctx.addIssue({ code: 'custom', path: ['registry', key], message: problem ?? 'must not be /' });
          return;
        }
        const own = new Chroot(path);
        for (const { tenant, chroot } of chroots) {
          if (chroot.overlaps(own))
            ctx.addIssue({
              code: 'custom',
              path: ['registry', key],
              message: `${path} overlaps the chroot ${chroot.root} of tenant "${tenant}": a tenant could ${risk}`,
            });
        }
      };
      platformPath('path', config.registry.path, 'rewrite the registry');
      platformPath('replicasPath', config.registry.replicasPath, 'forge replica records');
    }
    config.tlsListeners.forEach((tls, index) => {
      const clash = (other: HostPort) =>
        tls.listen.port !== 0 &&
        other.port === tls.listen.port &&
        (other.host === tls.listen.host || ['0.0.0.0', '::'].includes(tls.listen.host) || ['0.0.0.0', '::'].includes(other.host));
      for (const [key, owner] of listeners) {
        if (clash(parseHostPort(key, true) as HostPort)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tlsListeners', index, 'listen'],
            message: `listener ${formatHostPort(tls.listen)} clashes with ${key} of tenant "${owner}"`,
          });
        }
      }
      config.tlsListeners.slice(0, index).forEach((other, otherIndex) => {
        if (clash(other.listen)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tlsListeners', index, 'listen'],
            message: `listener ${formatHostPort(tls.listen)} clashes with ${formatHostPort(other.listen)} of tlsListeners[${otherIndex}]`,
          });
        }
      });
      for (const problem of readTlsMaterial(tls).problems)
        ctx.addIssue({ code: 'custom', path: ['tlsListeners', index, problem.key], message: problem.message });
    });
    if (config.security.secret === undefined && config.security.secretFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['security', 'secret'],
        message:
          'a shared secret is required (security.secret, security.secretFile or ZKPROXY_SECRET): every replica must use the same one',
      });
    }
    if (config.backend.failureBackoffMaxMs < config.backend.failureBackoffInitialMs) {
      ctx.addIssue({ code: 'custom', path: ['backend', 'failureBackoffMaxMs'], message: 'must be >= failureBackoffInitialMs' });
    }
  });

export type ProxyConfig = z.output<typeof ConfigSchema>;
export type EnsembleConfig = z.output<typeof EnsembleSchema>;

export interface NamedEnsemble extends EnsembleConfig {
  name: string;
}

/** The configured ensembles in order (the home ensemble first), whichever form configured them. */
export function ensemblesOf(config: Pick<ProxyConfig, 'ensemble' | 'ensembles'>): NamedEnsemble[] {
  if (config.ensembles !== undefined) return Object.entries(config.ensembles).map(([name, ensemble]) => ({ name, ...ensemble }));
  return [{ name: DEFAULT_ENSEMBLE_NAME, members: config.ensemble ?? [] }];
}

/** The name of the ensemble holding a tenant's tree. */
export function ensembleOfTenant(config: Pick<ProxyConfig, 'ensemble' | 'ensembles'>, tenant: Pick<TenantConfig, 'ensemble'>): string {
  return tenant.ensemble ?? ensemblesOf(config)[0]!.name;
}
export type ProxyConfigInput = z.input<typeof ConfigSchema>;
export type TenantConfig = ProxyConfig['tenants'][number];
export type TlsListenerConfig = ProxyConfig['tlsListeners'][number];

export function defaultChroot(tenantName: string): string {
  return `/tenants/${tenantName}`;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates raw configuration; throws ConfigError listing every problem as `key.path: message`. */
export function validateConfig(raw: unknown): ProxyConfig {
  const result = ConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(`invalid configuration:\n${formatIssues(result.error.issues)}`);
}

/** zod issues as `  key.path: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const key = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
      return `  ${key || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}

/** The shared secret as bytes, from `security.secret` or the file `security.secretFile`. */
export function resolveSecret(config: ProxyConfig): Buffer {
  if (config.security.secret !== undefined) return Buffer.from(config.security.secret, 'utf8');
  const file = config.security.secretFile!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`security.secretFile ${file}: ${(error as Error).message}`);
  }
  if (text.length < 16) throw new ConfigError(`security.secretFile ${file}: the secret must be at least 16 characters`);
  return Buffer.from(text, 'utf8');
}

/** The admin API token from `admin.token` or the file `admin.tokenFile`, when configured. */
export function resolveAdminToken(config: ProxyConfig): string | undefined {
  if (config.admin.token !== undefined) return config.admin.token;
  if (config.admin.tokenFile === undefined) return undefined;
  try {
    return readFileSync(config.admin.tokenFile, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`admin.tokenFile ${config.admin.tokenFile}: ${(error as Error).message}`);
  }
}

/**
 * The ensemble admin identity as [user, password], when configured: the named ensemble's own
 * (`ensembles.<name>.ensembleAdmin[File]`), else the platform's (`security.ensembleAdmin[File]`).
 */
export function ensembleAdmin(config: ProxyConfig, ensemble?: string): { user: string; password: string } | undefined {
  const own = ensemble === undefined ? undefined : config.ensembles?.[ensemble];
  const value =
    own?.ensembleAdmin ??
    readEnsembleAdminFile(own?.ensembleAdminFile, `ensembles.${ensemble}.ensembleAdminFile`) ??
    config.security.ensembleAdmin ??
    readEnsembleAdminFile(config.security.ensembleAdminFile, 'security.ensembleAdminFile');
  if (value === undefined) return undefined;
  const colon = value.indexOf(':');
  return { user: value.slice(0, colon), password: value.slice(colon + 1) };
}

function readEnsembleAdminFile(file: string | undefined, key: string): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${key} ${file}: ${(error as Error).message}`);
  }
  if (!ADMIN_FORMAT.test(text)) throw new ConfigError(`${key} ${file}: the file must hold "user:password"`);
  return text;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** The server certificate (the first one in `cert`). */
  certificate: X509Certificate;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Reads a TLS listener's PEM files and checks them: readable, parseable, key matching cert, CA present. */
function readTlsMaterial(tls: Pick<TlsListenerConfig, 'cert' | 'key' | 'ca'>): {
  material?: TlsMaterial;
  problems: { key: 'cert' | 'key' | 'ca'; message: string }[];
} {
  const problems: { key: 'cert' | 'key' | 'ca'; message: string }[] = [];
  const read = (key: 'cert' | 'key' | 'ca'): Buffer | undefined => {
    try {
      return readFileSync(tls[key]);
    } catch (error) {
      problems.push({ key, message: `cannot read ${tls[key]} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
      return undefined;
    }
  };
  const cert = read('cert');
  const key = read('key');
  const ca = read('ca');
  let certificate: X509Certificate | undefined;
  if (cert !== undefined) {
    try {
      certificate = new X509Certificate(cert);
    } catch (error) {
      problems.push({ key: 'cert', message: `${tls.cert} is not a PEM certificate: ${(error as Error).message}` });
    }
  }
  if (key !== undefined) {
    try {
      const privateKey = createPrivateKey(key);
      if (certificate !== undefined && !certificate.checkPrivateKey(privateKey))
        problems.push({ key: 'key', message: `${tls.key} is not the private key of the certificate in ${tls.cert}` });
    } catch (error) {
      problems.push({ key: 'key', message: `${tls.key} is not an unencrypted PEM private key: ${(error as Error).message}` });
    }
  }
  if (ca !== undefined) {
    const blocks = ca.toString('latin1').match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) problems.push({ key: 'ca', message: `${tls.ca} holds no PEM certificate` });
    blocks.forEach((block, index) => {
      try {
        new X509Certificate(block);
      } catch (error) {
        problems.push({ key: 'ca', message: `${tls.ca}: certificate ${index + 1} does not parse: ${(error as Error).message}` });
      }
    });
  }
  if (problems.length > 0 || cert === undefined || key === undefined || ca === undefined || certificate === undefined) return { problems };
  return { material: { cert, key, ca, certificate }, problems };
}

/** A TLS listener's files, checked as at validation; throws ConfigError (they may have changed since). */
export function loadTlsMaterial(tls: TlsListenerConfig, index: number): TlsMaterial {
  const { material, problems } = readTlsMaterial(tls);
  if (material === undefined)
    throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  tlsListeners[${index}].${p.key}: ${p.message}`).join('\n')}`);
  return material;
}

/** A tenant's effective limits: built-in defaults, then the platform's, then the tenant's own. */
export function limitsFor(config: ProxyConfig, tenant: TenantConfig): Limits {
  return layeredLimits(config.limits, tenant.limits);
}

export { DEFAULT_LIMITS, LimitsSchema, type Limits, type LimitsInput };
