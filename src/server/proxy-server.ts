/**
 * The proxy process: one TCP listener per tenant listener address, one ClientSession per client
 * connection, the admin listener, and the drain that SIGTERM/SIGINT trigger.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { AdminServer } from '../admin/admin-server.ts';
import { EnsembleMembers } from '../backend/members.ts';
import { EnsembleProbe } from '../backend/probe.ts';
import { ensembleAdmin, formatHostPort, resolveSecret, type HostPort, type ProxyConfig } from '../config/config.ts';
import { digestIdentity } from '../tenancy/credentials.ts';
import type { Logger } from '../observability/logger.ts';
import { ProxyMetrics, type TenantMetrics } from '../observability/metrics.ts';
import { ClientSession, type SessionEnvironment } from '../session/client-session.ts';
import { TenantRootKeeper } from '../tenancy/root-keeper.ts';
import { tenantFromConfig, type Tenant } from '../tenancy/tenant.ts';
import { answerFourLetterWord } from './four-letter-words.ts';

interface Listener {
  tenant: Tenant;
  requested: HostPort;
  server: Server;
  bound?: HostPort;
}

export class ProxyServer {
  readonly metrics: ProxyMetrics;
  readonly members: EnsembleMembers;
  private readonly config: ProxyConfig;
  private readonly log: Logger;
  private readonly listeners: Listener[] = [];
  private readonly sessions = new Set<ClientSession>();
  private readonly tenantMetrics = new Map<string, TenantMetrics>();
  private readonly env: SessionEnvironment;
  private readonly probe: EnsembleProbe;
  private readonly admin: AdminServer | undefined;
  private adminAddress: HostPort | undefined;
  private draining = false;

  constructor(config: ProxyConfig, log: Logger, metrics = new ProxyMetrics()) {
    this.config = config;
    this.log = log;
    this.metrics = metrics;
    this.members = new EnsembleMembers(config.ensemble, { initialMs: config.backend.failureBackoffInitialMs, maxMs: config.backend.failureBackoffMaxMs });
    this.probe = new EnsembleProbe(this.members);
    const admin = ensembleAdmin(config);
    const adminIdentity = admin === undefined ? undefined : digestIdentity(admin.user, admin.password);
    const roots = new TenantRootKeeper(this.members, log, config.backend.connectTimeoutMs, adminIdentity);
    const tenantContext = { secret: resolveSecret(config), hiddenIdentities: adminIdentity === undefined ? [] : [adminIdentity.id] };
    this.env = {
      members: this.members,
      connectTimeoutMs: config.backend.connectTimeoutMs,
      handshakeTimeoutMs: config.client.handshakeTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      log,
      ensureTenantRoot: (tenant) => roots.ensure(tenant),
      fourLetterWord: (word, socket) => answerFourLetterWord(word, socket, () => this.probe.reachable()),
      onBackendAttemptFailed: (member, reason) => {
        metrics.backendFailures.labels(member).inc();
        log.warn({ member, reason }, 'ensemble member refused or failed a session');
      },
      onBackendOpened: (member) => metrics.backendConnections.labels(member).inc(),
      onBackendClosed: (member) => metrics.backendConnections.labels(member).dec(),
      allowSasl: config.security.allowSasl,
    };
    for (const tenantConfig of config.tenants) {
      const tenant = tenantFromConfig(tenantConfig, tenantContext);
      for (const requested of tenantConfig.listeners) {
        const server = createServer({ noDelay: true }, (socket) => this.accept(socket, tenant));
        this.listeners.push({ tenant, requested, server });
      }
    }
    if (config.admin.listen !== null) {
      this.admin = new AdminServer(metrics, {
        ready: async () => {
          if (this.draining) return { ready: false, reason: 'draining' };
          return (await this.probe.reachable()) ? { ready: true } : { ready: false, reason: 'ensemble unreachable' };
        },
        describe: () => this.describe(),
      });
    }
  }

  async start(): Promise<void> {
    await Promise.all(
      this.listeners.map(
        (listener) =>
          new Promise<void>((resolve, reject) => {
            listener.server.once('error', (error) => reject(new Error(`cannot listen on ${formatHostPort(listener.requested)} for tenant ${listener.tenant.name}: ${error.message}`)));
            listener.server.listen({ host: listener.requested.host, port: listener.requested.port }, () => {
              listener.bound = { host: listener.requested.host, port: (listener.server.address() as AddressInfo).port };
              resolve();
            });
          }),
      ),
    );
    if (this.admin !== undefined && this.config.admin.listen !== null) this.adminAddress = await this.admin.listen(this.config.admin.listen);
    this.log.info({ listeners: this.listenerAddresses().map((l) => `${l.tenant}@${formatHostPort(l.address)}`), admin: this.adminAddress && formatHostPort(this.adminAddress), ensemble: this.members.all.map((m) => m.key) }, 'proxy listening');
  }

  /** The addresses actually bound (port 0 in the config becomes a real port). */
  listenerAddresses(): { tenant: string; address: HostPort }[] {
    return this.listeners.map((l) => ({ tenant: l.tenant.name, address: l.bound ?? l.requested }));
  }

  adminListenAddress(): HostPort | undefined {
    return this.adminAddress;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  private accept(socket: Socket, tenant: Tenant): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    let metrics = this.tenantMetrics.get(tenant.name);
    if (metrics === undefined) this.tenantMetrics.set(tenant.name, (metrics = this.metrics.forTenant(tenant.name)));
    const session = new ClientSession(socket, tenant, this.env, metrics, (closed) => this.sessions.delete(closed));
    this.sessions.add(session);
  }

  /**
   * Stops accepting, then closes client connections spread evenly over `periodMs` so that their
   * reconnects land on other replicas gradually. Resolves when every connection is closed.
   */
  async drain(periodMs: number): Promise<void> {
    let listenersClosed: Promise<unknown> = Promise.resolve();
    if (!this.draining) {
      this.draining = true;
      this.metrics.draining.set(1);
      this.log.info({ connections: this.sessions.size, periodMs }, 'draining');
      // server.close() stops accepting at once, but its callback only runs once every connection
      // it accepted has ended: awaiting it before closing the sessions would wait forever.
      listenersClosed = Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
    }
    const sessions = [...this.sessions];
    const step = sessions.length > 0 ? periodMs / sessions.length : 0;
    for (let i = 0; i < sessions.length; i++) {
      if (i > 0 && step > 0) await new Promise((resolve) => setTimeout(resolve, step));
      sessions[i]!.close('proxy draining');
    }
    await listenersClosed;
  }

  async close(): Promise<void> {
    await this.drain(0);
    await this.admin?.close();
  }

  describe(): unknown {
    const byTenant = new Map<string, number>();
    for (const session of this.sessions) byTenant.set(session.tenant.name, (byTenant.get(session.tenant.name) ?? 0) + 1);
    return {
      draining: this.draining,
      ensemble: this.members.all.map((m) => ({ member: m.key, consecutiveFailures: m.consecutiveFailures, avoidUntil: m.avoidUntil || null })),
      tenants: this.config.tenants.map((t) => ({
        name: t.name,
        chroot: t.chroot ?? `/tenants/${t.name}`,
        listeners: this.listeners.filter((l) => l.tenant.name === t.name).map((l) => formatHostPort(l.bound ?? l.requested)),
        connections: byTenant.get(t.name) ?? 0,
      })),
    };
  }
}
