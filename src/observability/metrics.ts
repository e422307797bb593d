/**
 * Prometheus metrics. Labels are tenants, opcodes, ensembles and their members only (bounded), never
 * paths or sessions.
 * Per-tenant children are resolved once per tenant and label value (TenantMetrics), so neither the
 * request path nor the refusal and error paths do label lookups.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { errorName, OPCODES, opcodeName } from 'jute-ts';
import { HotCounter, HotHistogram, type HotCounterChild, type HotHistogramChild } from './hot-metrics.ts';

export type RefusalReason =
  | 'bad_path'
  | 'policy'
  | 'malformed'
  | 'unimplemented'
  | 'four_letter_word'
  | 'no_backend'
  | 'frame_too_large'
  | 'unknown_identity'
  | 'throttled'
  | 'watch_limit'
  | 'connection_limit'
  | 'memory';

export interface TenantState {
  name: string;
  watches: number;
  limits: Readonly<Record<string, number>>;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly connectionsOpened = new Counter({
    name: 'zkproxy_connections_opened_total',
    help: 'Client connections accepted',
    labelNames: ['tenant'],
    registers: [this.registry],
  });
  readonly connectionsActive = new Gauge({
    name: 'zkproxy_connections_active',
    help: 'Client connections open now',
    labelNames: ['tenant'],
    registers: [this.registry],
  });
  readonly sessionsActive = new Gauge({
    name: 'zkproxy_sessions_active',
    help: 'Client connections with an established ZooKeeper session',
    labelNames: ['tenant'],
    registers: [this.registry],
  });
  readonly requests = new HotCounter(this.registry, 'zkproxy_requests_total', 'Requests received from clients');
  readonly requestLatency = new HotHistogram(
    this.registry,
    'zkproxy_request_duration_seconds',
    'Time from a request leaving the proxy to its reply arriving from the ensemble',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  readonly replyErrors = new Counter({
    name: 'zkproxy_reply_errors_total',
    help: 'Replies with a non-zero ZooKeeper error code',
    labelNames: ['tenant', 'code'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'zkproxy_refused_total',
    help: 'Requests or connections the proxy answered or closed itself',
    labelNames: ['tenant', 'reason'],
    registers: [this.registry],
  });
  readonly clientAuth = new Counter({
    name: 'zkproxy_client_auth_total',
    help: 'addAuth requests of clients, forwarded to the ensemble (scheme: digest, ip, x509, sasl or other)',
    labelNames: ['tenant', 'scheme'],
    registers: [this.registry],
  });
  readonly held = new Counter({
    name: 'zkproxy_requests_held_total',
    help: 'Requests held back before forwarding, by the reason (rate, tenant_in_flight, connection_in_flight, queued behind held ones)',
    labelNames: ['tenant', 'reason'],
    registers: [this.registry],
  });
  readonly bytes = new HotCounter(this.registry, 'zkproxy_bytes_total', 'Bytes relayed');
  readonly decodeErrors = new Counter({
    name: 'zkproxy_decode_errors_total',
    help: 'Malformed frames',
    labelNames: ['tenant', 'source', 'kind'],
    registers: [this.registry],
  });
  readonly isolationDrops = new Counter({
    name: 'zkproxy_isolation_drops_total',
    help: 'Server paths outside the tenant chroot that were withheld from the client',
    labelNames: ['tenant'],
    registers: [this.registry],
  });
  readonly backendConnections = new Gauge({
    name: 'zkproxy_backend_connections',
    help: 'Backend connections per ensemble member',
    labelNames: ['ensemble', 'member'],
    registers: [this.registry],
  });
  readonly backendFailures = new Counter({
    name: 'zkproxy_backend_connect_failures_total',
    help: 'Failed attempts to open a backend session, by member',
    labelNames: ['ensemble', 'member'],
    registers: [this.registry],
  });
  readonly backendSilent = new Counter({
    name: 'zkproxy_backend_silent_total',
    help: 'Clients that gave up on a member that stopped answering (the member is then tried last for a while)',
    labelNames: ['ensemble', 'member'],
    registers: [this.registry],
  });
  readonly backendLost = new Counter({
    name: 'zkproxy_backend_lost_total',
    help: 'Backend connections lost while relaying (client asked to fail over)',
    labelNames: ['tenant'],
    registers: [this.registry],
  });
  readonly bufferedBytes = new Gauge({
    name: 'zkproxy_buffered_bytes',
    help: 'Bytes held in proxy buffers (pending writes, partial frames, held requests)',
    registers: [this.registry],
  });
  readonly memoryPressure = new Gauge({
    name: 'zkproxy_memory_pressure',
    help: '1 while the memory guard stops reading from clients',
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: 'zkproxy_draining',
    help: '1 while the proxy drains connections before exit',
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'zkproxy_config_reloads_total',
    help: 'Configuration updates (source: file or registry; result: applied, rejected, partial)',
    labelNames: ['source', 'result'],
    registers: [this.registry],
  });
  readonly tenants = new Gauge({ name: 'zkproxy_tenants', help: 'Tenants served now', registers: [this.registry] });
  // Filled at scrape time from the tenants' live state (see setTenantStateSource).
  readonly watches = new Gauge({
    name: 'zkproxy_watches',
    help: "Watch registrations held by the tenant's connections (one-shot, persistent, recursive)",
    labelNames: ['tenant'],
    registers: [this.registry],
    collect: () => this.collectTenantState(),
  });
  readonly limit = new Gauge({
    name: 'zkproxy_tenant_limit',
    help: "A tenant's configured limit (0: unlimited), by limit name",
    labelNames: ['tenant', 'limit'],
    registers: [this.registry],
  });
  private tenantState: (() => Iterable<TenantState>) | undefined;

  setTenantStateSource(source: () => Iterable<TenantState>): void {
    this.tenantState = source;
  }

  private collectTenantState(): void {
    if (this.tenantState === undefined) return;
    this.watches.reset();
    this.limit.reset();
    for (const tenant of this.tenantState()) {
      this.watches.labels(tenant.name).set(tenant.watches);
      for (const [name, value] of Object.entries(tenant.limits)) this.limit.labels(tenant.name, name).set(value);
    }
  }

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  forTenant(tenant: string): TenantMetrics {
    return new TenantMetrics(this, tenant);
  }
}

const OPCODE_SLOTS = 128 + 16;

/** Metric series of one tenant, resolved once per opcode and cached in arrays. */
export class TenantMetrics {
  readonly root: ProxyMetrics;
  readonly tenant: string;
  readonly bytesIn: HotCounterChild;
  readonly bytesOut: HotCounterChild;
  /** The tenant's connection and session series, resolved once: every new connection moves them. */
  readonly connectionsOpened: Counter.Internal;
  readonly connectionsActive: Gauge.Internal<string>;
  readonly sessionsActive: Gauge.Internal<string>;
  readonly backendLost: Counter.Internal;
  private readonly requestCounters: (HotCounterChild | undefined)[] = new Array(OPCODE_SLOTS);
  private readonly latency: (HotHistogramChild | undefined)[] = new Array(OPCODE_SLOTS);
  private readonly children = new Map<Counter, Map<string, Counter.Internal>>();

  constructor(root: ProxyMetrics, tenant: string) {
    this.root = root;
    this.tenant = tenant;
    this.bytesIn = root.bytes.labels({ tenant, direction: 'client_to_ensemble' });
    this.bytesOut = root.bytes.labels({ tenant, direction: 'ensemble_to_client' });
    this.connectionsOpened = root.connectionsOpened.labels(tenant);
    this.connectionsActive = root.connectionsActive.labels(tenant);
    this.sessionsActive = root.sessionsActive.labels(tenant);
    this.backendLost = root.backendLost.labels(tenant);
  }

  request(opcode: number): void {
    const slot = opcodeSlot(opcode);
    (this.requestCounters[slot] ??= this.root.requests.labels({ tenant: this.tenant, opcode: knownOpcodeLabel(opcode) })).inc();
  }

  observeLatency(opcode: number, seconds: number): void {
    const slot = opcodeSlot(opcode);
    (this.latency[slot] ??= this.root.requestLatency.labels({ tenant: this.tenant, opcode: knownOpcodeLabel(opcode) })).observe(seconds);
  }

  refused(reason: RefusalReason): void {
    this.child(this.root.refused, reason).inc();
  }

  held(reason: string): void {
    this.child(this.root.held, reason).inc();
  }

  replyError(err: number): void {
    this.child(this.root.replyErrors, errorName(err)).inc();
  }

  decodeError(source: 'client' | 'ensemble', kind: string): void {
    this.child(this.root.decodeErrors, source, kind).inc();
  }

  clientAuth(scheme: string): void {
    this.child(this.root.clientAuth, scheme).inc();
  }

  isolationDrop(): void {
    this.child(this.root.isolationDrops).inc();
  }

  /** The tenant's child of `counter` for these further labels, resolved once (label values are bounded sets). */
  private child(counter: Counter, ...labels: string[]): Counter.Internal {
    let ofCounter = this.children.get(counter);
    if (ofCounter === undefined) this.children.set(counter, (ofCounter = new Map()));
    const key = labels.join('\u0000');
    let child = ofCounter.get(key);
    if (child === undefined) ofCounter.set(key, (child = counter.labels(this.tenant, ...labels)));
    return child;
  }
}

/** Opcodes span -11..107; everything else shares the 'unknown' slot 0 (-16 is no opcode). */
function opcodeSlot(opcode: number): number {
  const slot = opcode + 16;
  return slot > 0 && slot < OPCODE_SLOTS ? slot : 0;
}

const known = new Set(OPCODES.map((info) => info.code));
function knownOpcodeLabel(opcode: number): string {
  return known.has(opcode) ? opcodeName(opcode) : 'unknown';
}
