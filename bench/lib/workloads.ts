/**
 * The benchmark's workloads, and how each expands into measured cases (one case = one run per
 * target per round). Closed-loop cases go to lib/loadgen.ts, storms to lib/storms.ts.
 */
import type { OpKind } from './loadgen.ts';

// idle first: the proxy's RSS is sampled before other workloads grew its heap (V8 keeps what it took).
export const WORKLOADS = ['idle', 'unloaded', 'read', 'write', 'mixed', 'large', 'curve', 'tenants', 'connstorm', 'watchstorm'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export const WORKLOAD_TITLES: Record<WorkloadName, string> = {
  unloaded: 'Unloaded latency: getData 100 B, 1 session, 1 request in flight',
  read: 'Read-heavy: getData 100 B, saturated',
  write: 'Write-heavy: setData 100 B and create ephemeral-sequential 100 B, alternating, saturated',
  mixed: 'Mixed: 90% getData / 10% setData (100 B), saturated',
  large: 'Large values: getData 500 KB, saturated',
  curve: 'Latency vs throughput: getData 100 B at increasing requests in flight',
  tenants: 'Many tenants: getData 100 B, the same sessions and requests in flight spread over 1..N tenants',
  idle: 'Idle sessions: open, hold (pinging), close',
  connstorm: 'Connection storm: concurrent connect → handshake → closeSession loops',
  watchstorm: 'Watch storm: many sessions watch one znode, one change per round',
};

/** Znodes every tenant chroot gets (paths relative to the chroot). */
export const NODES = {
  small: { path: '/bench-100b', bytes: 100 },
  large: { path: '/bench-500k', bytes: 500 * 1024 },
  write: { path: '/bench-write', bytes: 100 },
  createParent: { path: '/bench-seq', bytes: 0 },
  watch: { path: '/bench-watch', bytes: 10 },
} as const;

export interface ClosedLoopCase {
  kind: 'closed';
  workload: WorkloadName;
  /** Unique per case, e.g. "tenants-100", "curve-64". */
  name: string;
  /** The x value of the case within its workload (tenants, total in flight), if it has one. */
  x?: number;
  mix: OpKind[];
  readNode: 'small' | 'large';
  valueBytes: number;
  sessions: number;
  inflight: number;
  generators: number;
  tenants: number;
  /** Duration mode (warm-up then measured window) unless `count` is given. */
  warmupMs: number;
  durationMs: number;
  count?: { warmup: number; measured: number };
}

export interface StormCase {
  kind: 'storm';
  workload: 'idle' | 'connstorm' | 'watchstorm';
  name: string;
  x?: number;
  sessions: number;
  durationMs: number;
  rounds: number;
  /** idle: how long the sessions are held (RSS sampled meanwhile). */
  holdMs: number;
}

export type BenchCase = ClosedLoopCase | StormCase;

export interface WorkloadSettings {
  warmupMs: number;
  durationMs: number;
  sessions: number;
  inflight: number;
  generators: number;
  requests: number;
  warmupRequests: number;
  curve: number[];
  tenants: number[];
  tenantSessions: number;
  tenantInflight: number;
  idleSessions: number;
  idleHoldMs: number;
  stormConcurrency: number;
  stormMs: number;
  watchers: number;
  watchRounds: number;
}

const READ: OpKind[] = ['get'];

export function expandWorkload(name: WorkloadName, s: WorkloadSettings): BenchCase[] {
  const saturated = {
    valueBytes: 100,
    sessions: s.sessions,
    inflight: s.inflight,
    generators: s.generators,
    tenants: 1,
    warmupMs: s.warmupMs,
    durationMs: s.durationMs,
  };
  switch (name) {
    case 'unloaded':
      return [
        {
          kind: 'closed',
          workload: name,
          name,
          mix: READ,
          readNode: 'small',
          ...saturated,
          sessions: 1,
          inflight: 1,
          generators: 1,
          count: { warmup: s.warmupRequests, measured: s.requests },
        },
      ];
    case 'read':
      return [{ kind: 'closed', workload: name, name, mix: READ, readNode: 'small', ...saturated }];
    case 'write':
      return [{ kind: 'closed', workload: name, name, mix: ['set', 'create'], readNode: 'small', ...saturated }];
    case 'mixed':
      return [{ kind: 'closed', workload: name, name, mix: [...Array<OpKind>(9).fill('get'), 'set'], readNode: 'small', ...saturated }];
    case 'large':
      // 500 KB replies: a few in flight already fill the sockets; more would only queue.
      return [
        { kind: 'closed', workload: name, name, mix: READ, readNode: 'large', ...saturated, sessions: 8, inflight: 2, generators: 1 },
      ];
    case 'curve':
      return s.curve.map((total) => {
        const sessions = Math.min(total, 64);
        return {
          kind: 'closed',
          workload: name,
          name: `curve-${total}`,
          x: total,
          mix: READ,
          readNode: 'small',
          ...saturated,
          sessions,
          inflight: Math.max(1, Math.round(total / sessions)),
        };
      });
    case 'tenants':
      return s.tenants.map((tenants) => ({
        kind: 'closed',
        workload: name,
        name: `tenants-${tenants}`,
        x: tenants,
        mix: READ,
        readNode: 'small',
        ...saturated,
        sessions: Math.max(s.tenantSessions, tenants),
        inflight: s.tenantInflight,
        tenants,
      }));
    case 'idle':
      return [{ kind: 'storm', workload: name, name, sessions: s.idleSessions, durationMs: 0, rounds: 1, holdMs: s.idleHoldMs }];
    case 'connstorm':
      return [{ kind: 'storm', workload: name, name, sessions: s.stormConcurrency, durationMs: s.stormMs, rounds: 1, holdMs: 0 }];
    case 'watchstorm':
      return [{ kind: 'storm', workload: name, name, sessions: s.watchers, durationMs: 0, rounds: s.watchRounds, holdMs: 0 }];
  }
}
