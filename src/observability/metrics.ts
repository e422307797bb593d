/**
 * Prometheus metrics. Labels are tenants and opcodes only (bounded), never paths or sessions.
 * Per-tenant children are resolved once per connection (TenantMetrics), so the request path does
 * no label lookups.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OPCODES, opcodeName } from 'jute-ts';

export type RefusalReason = 'bad_path' | 'malformed' | 'unimplemented' | 'four_letter_word' | 'no_backend' | 'frame_too_large';

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly connectionsOpened = new Counter({ name: 'zkproxy_connections_opened_total', help: 'Client connections accepted', labelNames: ['tenant'], registers: [this.registry] });
  readonly connectionsActive = new Gauge({ name: 'zkproxy_connections_active', help: 'Client connections open now', labelNames: ['tenant'], registers: [this.registry] });
  readonly sessionsActive = new Gauge({ name: 'zkproxy_sessions_active', help: 'Client connections with an established ZooKeeper session', labelNames: ['tenant'], registers: [this.registry] });
  readonly requests = new Counter({ name: 'zkproxy_requests_total', help: 'Requests received from clients', labelNames: ['tenant', 'opcode'], registers: [this.registry] });
  readonly requestLatency = new Histogram({
    name: 'zkproxy_request_duration_seconds',
    help: 'Time from a request leaving the proxy to its reply arriving from the ensemble',
    labelNames: ['tenant', 'opcode'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly replyErrors = new Counter({ name: 'zkproxy_reply_errors_total', help: 'Replies with a non-zero ZooKeeper error code', labelNames: ['tenant', 'code'], registers: [this.registry] });
  readonly refused = new Counter({ name: 'zkproxy_refused_total', help: 'Requests or connections the proxy answered or closed itself', labelNames: ['tenant', 'reason'], registers: [this.registry] });
  readonly bytes = new Counter({ name: 'zkproxy_bytes_total', help: 'Bytes relayed', labelNames: ['tenant', 'direction'], registers: [this.registry] });
  readonly decodeErrors = new Counter({ name: 'zkproxy_decode_errors_total', help: 'Malformed frames', labelNames: ['tenant', 'source', 'kind'], registers: [this.registry] });
  readonly isolationDrops = new Counter({ name: 'zkproxy_isolation_drops_total', help: 'Server paths outside the tenant chroot that were withheld from the client', labelNames: ['tenant'], registers: [this.registry] });
  readonly backendConnections = new Gauge({ name: 'zkproxy_backend_connections', help: 'Backend connections per ensemble member', labelNames: ['member'], registers: [this.registry] });
  readonly backendFailures = new Counter({ name: 'zkproxy_backend_connect_failures_total', help: 'Failed attempts to open a backend session, by member', labelNames: ['member'], registers: [this.registry] });
  readonly backendLost = new Counter({ name: 'zkproxy_backend_lost_total', help: 'Backend connections lost while relaying (client asked to fail over)', labelNames: ['tenant'], registers: [this.registry] });
  readonly draining = new Gauge({ name: 'zkproxy_draining', help: '1 while the proxy drains connections before exit', registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  forTenant(tenant: string): TenantMetrics {
    return new TenantMetrics(this, tenant);
  }
}

const OPCODE_SLOTS = 128 + 16;

/** Metric children of one tenant, resolved lazily per opcode and cached. */
export class TenantMetrics {
  readonly root: ProxyMetrics;
  readonly tenant: string;
  readonly bytesIn;
  readonly bytesOut;
  private readonly requestCounters: (ReturnType<Counter['labels']> | undefined)[] = new Array(OPCODE_SLOTS);
  private readonly latency: (ReturnType<Histogram['labels']> | undefined)[] = new Array(OPCODE_SLOTS);

  constructor(root: ProxyMetrics, tenant: string) {
    this.root = root;
    this.tenant = tenant;
    this.bytesIn = root.bytes.labels(tenant, 'client_to_ensemble');
    this.bytesOut = root.bytes.labels(tenant, 'ensemble_to_client');
  }

  request(opcode: number): void {
    const slot = opcode + 16;
    if (slot < 0 || slot >= OPCODE_SLOTS) return;
    (this.requestCounters[slot] ??= this.root.requests.labels(this.tenant, knownOpcodeLabel(opcode))).inc();
  }

  observeLatency(opcode: number, seconds: number): void {
    const slot = opcode + 16;
    if (slot < 0 || slot >= OPCODE_SLOTS) return;
    (this.latency[slot] ??= this.root.requestLatency.labels(this.tenant, knownOpcodeLabel(opcode))).observe(seconds);
  }
}

const known = new Set(OPCODES.map((info) => info.code));
function knownOpcodeLabel(opcode: number): string {
  return known.has(opcode) ? opcodeName(opcode) : 'unknown';
}
