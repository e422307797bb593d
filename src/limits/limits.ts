/**
 * Every per-tenant limit, declared once: its schema, default, how a proxy with several workers
 * divides it, where it is enforced and what a client meets when it is reached. The configuration
 * schema, the defaults, the per-worker shares and the `zkproxy_tenant_limit` series are derived
 * from this table; adding a limit is adding a row (and enforcing it where the row says).
 */
import { z } from 'zod';

const count = z.number().int().nonnegative();
const positive = z.number().int().positive();

interface LimitDeclaration {
  readonly schema: z.ZodNumber;
  readonly default: number;
  /**
   * `divided`: each of N workers enforces 1/N of it (a per-process counter: connections, the rate
   * bucket, in-flight and watch counts); `whole`: every worker applies it as is (it bounds a single
   * connection or request, or the ensemble enforces it for all workers at once).
   */
  readonly workers: 'divided' | 'whole';
  /** Where it is enforced, for a reader looking for the check. */
  readonly enforcedBy: string;
  /** What a client meets when it is reached (the refusal reason or hold reason of the metrics). */
  readonly answer: string;
}

export const LIMITS = {
  /** Concurrent client connections of the tenant (0: unlimited). */
  maxConnections: {
    schema: count,
    default: 1000,
    workers: 'divided',
    enforcedBy: 'server/proxy-server.ts accept → TenantLimiter.tryOpenConnection',
    answer: 'connection closed at accept (refused reason connection_limit)',
  },
  /** Token bucket: sustained requests per second of the tenant (0: unlimited). */
  requestsPerSecond: {
    schema: count,
    default: 10_000,
    workers: 'divided',
    enforcedBy: 'TenantLimiter.admit (session/admission.ts)',
    answer: 'request held (held reason rate)',
  },
  /** The bucket's size. */
  burst: {
    schema: positive,
    default: 20_000,
    workers: 'divided',
    enforcedBy: 'TenantLimiter.admit (session/admission.ts)',
    answer: 'request held (held reason rate)',
  },
  /**
   * A request held back by the rate limit longer than this is answered THROTTLEDOP (-127).
   * 0 (the default): never; excess load only meets backpressure, which every client survives
   * (kazoo 2.8 and 3.4/3.5 Java clients do not know -127).
   */
  maxThrottleWaitMs: {
    schema: count,
    default: 0,
    workers: 'whole',
    enforcedBy: 'session/admission.ts',
    answer: 'THROTTLEDOP (refused reason throttled)',
  },
  /** Requests forwarded and not yet answered, per connection (backpressure). */
  maxInFlightPerConnection: {
    schema: positive,
    default: 1_000,
    workers: 'whole',
    enforcedBy: 'session/admission.ts',
    answer: 'request held (held reason connection_in_flight)',
  },
  /** Requests forwarded and not yet answered, per tenant (backpressure). */
  maxInFlightPerTenant: {
    schema: positive,
    default: 10_000,
    workers: 'divided',
    enforcedBy: 'TenantLimiter.admit (session/admission.ts)',
    answer: 'request held (held reason tenant_in_flight)',
  },
  /** Watch registrations of the tenant (one-shot, persistent and recursive; 0: unlimited). */
  maxWatches: {
    schema: count,
    default: 100_000,
    workers: 'divided',
    enforcedBy: 'session/request-pipeline.ts',
    answer: 'QUOTAEXCEEDED (refused reason watch_limit)',
  },
  /** Hard quota enforced by ZooKeeper itself on the tenant root (0: none). */
  maxZnodes: {
    schema: count,
    default: 500_000,
    workers: 'whole',
    enforcedBy: 'ZooKeeper (quota set by ensemble-admin/quota.ts)',
    answer: 'QUOTAEXCEEDED from the ensemble',
  },
  maxBytes: {
    schema: count,
    default: 512 * 1024 * 1024,
    workers: 'whole',
    enforcedBy: 'ZooKeeper (quota set by ensemble-admin/quota.ts)',
    answer: 'QUOTAEXCEEDED from the ensemble',
  },
} as const satisfies Record<string, LimitDeclaration>;

export type LimitName = keyof typeof LIMITS;
export type Limits = Record<LimitName, number>;
export type LimitsInput = Partial<Limits>;

const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];

/**
 * Per-tenant limits. At the top level of a configuration they are the platform defaults; in a
 * tenant entry they override those one by one. 0 means unlimited where noted.
 */
export const LimitsSchema = z.strictObject(
  Object.fromEntries(LIMIT_NAMES.map((name) => [name, LIMITS[name].schema.optional()])) as Record<LimitName, z.ZodOptional<z.ZodNumber>>,
);

export const DEFAULT_LIMITS: Limits = Object.fromEntries(LIMIT_NAMES.map((name) => [name, LIMITS[name].default])) as Limits;

/** The limits with every `undefined` override dropped, layered over the defaults, in order. */
export function layeredLimits(...overrides: (LimitsInput | undefined)[]): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const layer of overrides) for (const name of LIMIT_NAMES) if (layer?.[name] !== undefined) limits[name] = layer[name];
  return limits;
}

/** What one of `n` workers enforces: a divided limit's share (rounded up, 0 stays unlimited). */
export function shareOf(limits: Limits, n: number): Limits {
  const share = { ...limits };
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (LIMITS[name].workers === 'divided' && value !== 0) share[name] = Math.max(1, Math.ceil(value / n));
  }
  return share;
}
