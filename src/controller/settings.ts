/**
 * The controller's configuration: where the ensemble and the platform's state are, the platform
 * settings that shape every tenant's Flink cluster, how manifests are applied, and the HTTP API.
 * Read from a YAML/JSON file, then flags and ZKPROXY_* environment variables on top; secrets (the
 * shared secret, the API token) come from the file or the environment, never from flags.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  ConfigError,
  DEFAULT_ENSEMBLE_NAME,
  EnsembleSchema,
  LimitsSchema,
  ensembleString,
  ensemblesRecord,
  formatIssues,
  listenAddress,
  type HostPort,
  type NamedEnsemble,
} from '../config/config.ts';
import { readConfigFile } from '../config/load.ts';
import { DEFAULT_REGISTRY_PATH } from '../config/registry.ts';
import { digestIdentity, type DigestIdentity } from '../tenancy/credentials.ts';

const PLACEHOLDER_TENANT = '{tenant}';

const portRange = z.string().transform((text, ctx) => {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const [first, last] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!match || first < 1 || last > 65535 || first > last) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a port range "first-last" within 1..65535` });
    return z.NEVER;
  }
  return { first, last };
});

const absolutePath = z.string().regex(/^\/[^/]+(\/[^/]+)*$/, 'must be an absolute znode path without a trailing slash');
const tenantPattern = z.string().includes(PLACEHOLDER_TENANT, { message: `must contain ${PLACEHOLDER_TENANT}` });

export const ControllerSettingsSchema = z.strictObject({
  /** One shared ensemble "h:p,..." (named "default"), or `ensembles` for several (the first is home: registry and controller state). */
  ensemble: ensembleString.optional(),
  ensembles: ensemblesRecord.optional(),
  security: z
    .strictObject({
      secret: z.string().min(16, 'security.secret must be at least 16 characters').optional(),
      secretFile: z.string().optional(),
      ensembleAdmin: z
        .string()
        .regex(/^[^:]+:.+$/, 'ensembleAdmin must be "user:password"')
        .optional(),
    })
    .prefault({}),
  /**
   * Limits of tenants made by the controller, overridden per tenant. The effective maxZnodes and
   * maxBytes are written into every registry entry, so the proxies set the same quota.
   */
  defaultLimits: LimitsSchema.prefault({}),
  /** The proxies' tenant registry znode (proxy config `registry.path`). */
  registry: z
    .strictObject({
      path: absolutePath.default(DEFAULT_REGISTRY_PATH),
      /** Where the proxies keep their replica records (proxy config `registry.replicasPath`): a move waits on them. */
      replicasPath: absolutePath.default('/zkproxy/replicas'),
    })
    .prefault({}),
  controller: z
    .strictObject({
      /** Platform path holding desired state, status and the leader election. */
      root: absolutePath.default('/zkproxy/controller'),
      /** The leader re-converges everything this often (and at once when desired state changes). */
      reconcileIntervalMs: z.number().int().positive().default(30_000),
      /** Session timeout of the controller's ZooKeeper session: how fast a dead leader is replaced. */
      sessionTimeoutMs: z.number().int().positive().default(10_000),
      /** How long a move's cut-over waits for every proxy replica to hold the tenant; then it rolls back (below the proxies' moveHoldMaxMs). */
      moveHoldWaitMs: z.number().int().positive().default(5000),
      /**
       * Compare the whole tree on both ensembles (verify) inside the hold, before the switch; the
       * pause then grows by about 0.4 ms per znode (docs/ensembles.md "Move: cut-over"). false:
       * the final sync pass alone decides.
       */
      moveVerify: z.boolean().default(true),
      http: z
        .strictObject({
          /** HTTP API listener, or null for none. */
          listen: listenAddress.nullable().default(null),
          token: z.string().min(16, 'controller.http.token must be at least 16 characters').optional(),
          tokenFile: z.string().optional(),
          /** The proxies' admin listeners (host:port, one per replica): the console shows a tenant's live traffic from their /metrics. */
          proxyAdmin: z.array(listenAddress).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  platform: z
    .strictObject({
      /** Platform domain: the UI vhost is flink-cluster-ui-<tenant>.<domain>. */
      domain: z
        .string()
        .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a lower-case DNS name')
        .default('platform.example.com'),
      /** ZooKeeper address Flink is given for HA: {tenant} and {port} (the tenant's proxy listener port) are replaced. */
      proxyAddress: z.string().default('zookeeper-proxy.{tenant}.marathon.mesos:7451'),
      /** Host part of the proxy listener a new tenant gets in the registry. */
      tenantListenerHost: z.string().default('0.0.0.0'),
      /** Ports handed out to new tenants (lowest free first) when no listener is given. */
      tenantListenerPorts: portRange.default({ first: 7451, last: 7999 }),
      /** Kubernetes namespace of a tenant's Flink cluster. */
      namespace: tenantPattern.default('{tenant}'),
      bucket: z
        .strictObject({
          /** Object storage bucket name of a tenant. */
          name: tenantPattern.default('flink-cluster-bucket-{tenant}'),
          /** S3 endpoint of the platform's object storage. */
          endpoint: z.string().default('https://s3.platform.example.com'),
          /** Secret (in the tenant namespace) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the bucket. */
          credentialsSecret: z.string().default('flink-cluster-bucket-credentials'),
        })
        .prefault({}),
      /** Zones a cluster may be deployed in (empty: any); the node selector label carries it. */
      zones: z.array(z.string().min(1)).default([]),
      defaultZone: z.string().default('default'),
      zoneLabel: z.string().default('topology.kubernetes.io/zone'),
      /** Container image per Flink version. */
      images: z
        .strictObject({
          '1.12': z.string().default('flink:1.12.2-scala_2.12-java11'),
          '1.15': z.string().default('flink:1.15.2-scala_2.12-java11'),
        })
        .prefault({}),
      ingressClassName: z.string().optional(),
      /** Storage class of the 20 GiB job volume (cluster default when absent). */
      storageClassName: z.string().optional(),
    })
    .prefault({}),
  apply: z
    .discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('directory'), directory: z.string().min(1).default('./manifests') }),
      z.strictObject({
        mode: z.literal('command'),
        /** Receives the manifests (multi-document YAML) on stdin. */
        command: z.array(z.string()).min(1).default(['kubectl', 'apply', '-f', '-']),
        deleteCommand: z.array(z.string()).min(1).default(['kubectl', 'delete', '--ignore-not-found', '-f', '-']),
      }),
    ])
    .default({ mode: 'directory', directory: './manifests' }),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
});

export type ControllerSettings = z.output<typeof ControllerSettingsSchema>;
export type PlatformSettings = ControllerSettings['platform'];
export type ApplySettings = ControllerSettings['apply'];

export interface SettingsOverrides {
  config?: string | undefined;
  ensemble?: string | undefined;
  secretFile?: string | undefined;
  manifestDir?: string | undefined;
  httpListen?: string | undefined;
  logLevel?: string | undefined;
}

export function validateSettings(raw: unknown): ControllerSettings {
  const result = ControllerSettingsSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid controller configuration:\n${formatIssues(result.error.issues)}`);
  const settings = result.data;
  if ((settings.ensemble === undefined) === (settings.ensembles === undefined))
    throw new ConfigError(
      'invalid controller configuration:\n  ensemble: name the shared ensemble: either ensemble ("host:port,...") or ensembles ({name: {members}}), not both',
    );
  if (settings.security.secret === undefined && settings.security.secretFile === undefined) {
    throw new ConfigError(
      "invalid controller configuration:\n  security.secret: the proxies' shared secret is required (security.secret, security.secretFile or ZKPROXY_SECRET)",
    );
  }
  return settings;
}

export function loadSettings(overrides: SettingsOverrides, env: NodeJS.ProcessEnv = process.env): ControllerSettings {
  const raw: Record<string, unknown> = overrides.config ? readConfigFile(overrides.config) : {};
  const section = (key: string) => (raw[key] ?? {}) as Record<string, unknown>;
  if (overrides.ensemble) {
    // The flag names the one ensemble to use, whatever the file says.
    raw.ensemble = overrides.ensemble;
    delete raw.ensembles;
  }
  if (overrides.secretFile) raw.security = { ...section('security'), secretFile: overrides.secretFile, secret: undefined };
  const security = section('security');
  if (security.secret === undefined && security.secretFile === undefined && env.ZKPROXY_SECRET)
    raw.security = { ...security, secret: env.ZKPROXY_SECRET };
  if (security.ensembleAdmin === undefined && env.ZKPROXY_ENSEMBLE_ADMIN)
    raw.security = { ...section('security'), ensembleAdmin: env.ZKPROXY_ENSEMBLE_ADMIN };
  const controller = section('controller');
  const http = (controller.http ?? {}) as Record<string, unknown>;
  if (http.token === undefined && http.tokenFile === undefined && env.ZKPROXY_API_TOKEN)
    raw.controller = { ...controller, http: { ...http, token: env.ZKPROXY_API_TOKEN } };
  if (overrides.httpListen !== undefined) {
    const current = section('controller');
    raw.controller = {
      ...current,
      http: { ...((current.http ?? {}) as object), listen: overrides.httpListen === 'off' ? null : overrides.httpListen },
    };
  }
  if (overrides.manifestDir) raw.apply = { mode: 'directory', directory: overrides.manifestDir };
  if (overrides.logLevel) raw.log = { ...section('log'), level: overrides.logLevel };
  return validateSettings(raw);
}

/**
 * Only the `platform` section of the configuration (file, if given): all a render needs, so that
 * `cluster deploy --dry-run --listener` works without an ensemble, a secret or a token.
 */
export function loadPlatformSettings(config: string | undefined): PlatformSettings {
  const raw = config ? readConfigFile(config) : {};
  const result = ControllerSettingsSchema.shape.platform.safeParse(raw.platform);
  if (!result.success)
    throw new ConfigError(
      `invalid controller configuration:\n${formatIssues(result.error.issues.map((issue) => ({ ...issue, path: ['platform', ...issue.path] })))}`,
    );
  return result.data;
}

function readSecretFile(key: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${key} ${file}: ${(error as Error).message}`);
  }
  if (text.length < 16) throw new ConfigError(`${key} ${file}: must hold at least 16 characters`);
  return text;
}

export function settingsSecret(settings: ControllerSettings): Buffer {
  return Buffer.from(settings.security.secret ?? readSecretFile('security.secretFile', settings.security.secretFile!), 'utf8');
}

/** The API token, or undefined when neither token nor tokenFile is set. */
export function settingsApiToken(settings: ControllerSettings): string | undefined {
  const { token, tokenFile } = settings.controller.http;
  return token ?? (tokenFile === undefined ? undefined : readSecretFile('controller.http.tokenFile', tokenFile));
}

export function settingsAdmin(settings: ControllerSettings): DigestIdentity | undefined {
  const value = settings.security.ensembleAdmin;
  return value === undefined ? undefined : parseAdmin(value);
}

function parseAdmin(value: string): DigestIdentity {
  const colon = value.indexOf(':');
  return digestIdentity(value.slice(0, colon), value.slice(colon + 1));
}

const CapacitySchema = EnsembleSchema.shape.capacity.unwrap();
export type EnsembleCapacity = z.output<typeof CapacitySchema>;

/** An ensemble as the controller uses it: where it is, who administers it, what it is meant to hold. */
export interface ControllerEnsemble {
  name: string;
  members: HostPort[];
  /** Its own ensembleAdmin[File], else security.ensembleAdmin. */
  admin: DigestIdentity | undefined;
  capacity: EnsembleCapacity;
}

/** settingsEnsembles with each ensemble's admin identity read and its capacity defaults filled in. */
export function controllerEnsembles(settings: ControllerSettings): ControllerEnsemble[] {
  return settingsEnsembles(settings).map((ensemble) => {
    const own =
      ensemble.ensembleAdmin ??
      (ensemble.ensembleAdminFile === undefined
        ? undefined
        : readAdminFile(`ensembles.${ensemble.name}.ensembleAdminFile`, ensemble.ensembleAdminFile));
    return {
      name: ensemble.name,
      members: ensemble.members,
      admin: own === undefined ? settingsAdmin(settings) : parseAdmin(own),
      capacity: ensemble.capacity ?? CapacitySchema.parse({}),
    };
  });
}

function readAdminFile(key: string, file: string): string {
  const text = readSecretFile(key, file);
  if (!/^[^:]+:.+$/.test(text)) throw new ConfigError(`${key} ${file}: the file must hold "user:password"`);
  return text;
}

/** The ensembles tenants are placed on, in order; the first holds the registry and the controller's state. */
export function settingsEnsembles(settings: Pick<ControllerSettings, 'ensemble' | 'ensembles'>): NamedEnsemble[] {
  if (settings.ensembles !== undefined) return Object.entries(settings.ensembles).map(([name, ensemble]) => ({ name, ...ensemble }));
  return [{ name: DEFAULT_ENSEMBLE_NAME, members: settings.ensemble ?? [] }];
}

/** The home ensemble's members: registry, desired state and leader election live there. */
export function homeEnsemble(settings: Pick<ControllerSettings, 'ensemble' | 'ensembles'>): HostPort[] {
  return settingsEnsembles(settings)[0]!.members;
}

export function fillTenant(pattern: string, tenant: string, extra: Record<string, string | number> = {}): string {
  let text = pattern.replaceAll(PLACEHOLDER_TENANT, tenant);
  for (const [key, value] of Object.entries(extra)) text = text.replaceAll(`{${key}}`, String(value));
  return text;
}

export type { HostPort };
