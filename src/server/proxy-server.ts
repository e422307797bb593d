/**
 * The proxy process: one TCP listener per tenant listener address, TLS listeners shared by all
 * tenants (the client certificate names the tenant), one ClientSession per client connection, the
 * admin listener, and the drain that SIGTERM/SIGINT trigger.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { AdminServer } from '../admin/admin-server.ts';
import { EnsembleMembers } from '../backend/members.ts';
import { EnsembleProbe } from '../backend/probe.ts';
import {
  ConfigError,
  defaultChroot,
  ensembleAdmin,
  ensemblesOf,
  resolveAdminToken,
  formatHostPort,
  limitsFor,
  loadTlsMaterial,
  resolveSecret,
  type HostPort,
  type Limits,
  type ProxyConfig,
  type TenantConfig,
  type TlsListenerConfig,
} from '../config/config.ts';
import { LiveConfig, type ConfigUpdate } from '../config/live-config.ts';
import { RegistryWatch } from '../ensemble-admin/registry-watch.ts';
import { digestIdentity } from '../tenancy/credentials.ts';
import type { Logger } from '../observability/logger.ts';
import { ProxyMetrics, type TenantMetrics } from '../observability/metrics.ts';
import { ClientSession, type SessionEnvironment } from '../session/client-session.ts';
import { TenantRootKeeper } from '../ensemble-admin/root-keeper.ts';
import { shareOf } from '../limits/limits.ts';
import { tenantFromConfig, type Tenant, type TenantContext } from '../tenancy/tenant.ts';
import { RateLimitedLog } from '../observability/rate-limited-log.ts';
import { tenantOfCertificate, x509SubjectName } from '../tenancy/tls-identity.ts';
import { answerFourLetterWord } from './four-letter-words.ts';

interface Listener {
  tenant: Tenant;
  requested: HostPort;
  server: Server;
  bound?: HostPort;
}

interface TlsListener {
  config: TlsListenerConfig;
  server: TlsServer;
  /** notAfter of the server certificate, for /admin/state. */
  certValidTo: string;
  bound?: HostPort;
  connections: number;
  /** Raw sockets still in the TLS handshake, by remote address: a drain must not wait for them. */
  handshaking: Map<string, Socket>;
}

/** Where the configuration came from, so it can be composed again (file reload, registry). */
export interface ConfigSource {
  /** The unvalidated input the configuration was validated from (file + flags + environment). */
  raw: Record<string, unknown>;
  /** Reads that input again (SIGHUP, file change); absent when there is no file. */
  readFile?: () => Record<string, unknown>;
}

export class ProxyServer {
  readonly metrics: ProxyMetrics;
  readonly members: EnsembleMembers;
  private config: ProxyConfig;
  private readonly live: LiveConfig | undefined;
  private readonly registryWatch: RegistryWatch | undefined;
  private readonly roots: TenantRootKeeper;
  private readonly tenantContext: Omit<TenantContext, 'limits'>;
  private started = false;
  private readonly share: number;
  private readonly log: Logger;
  private readonly listeners: Listener[] = [];
  private readonly tlsListeners: TlsListener[] = [];
  private readonly tenants = new Map<string, Tenant>();
  private readonly sessions = new Set<ClientSession>();
  private readonly tenantMetrics = new Map<string, TenantMetrics>();
  private readonly env: SessionEnvironment;
  private readonly probe: EnsembleProbe;
  private readonly admin: AdminServer | undefined;
  private adminAddress: HostPort | undefined;
  private draining = false;
  private readonly memory = { pressure: false };
  private memoryTimer: NodeJS.Timeout | undefined;
  private readonly limitLog: RateLimitedLog;

  /**
   * `runtime.share`: this process is one of N workers and enforces 1/N of every per-process limit
   * (see src/server/workers.ts).
   */
  constructor(config: ProxyConfig, log: Logger, metrics = new ProxyMetrics(), source?: ConfigSource, runtime: { share?: number } = {}) {
    this.config = config;
    this.share = runtime.share ?? 1;
    // Workers share listeners through the primary, which would give every port-0 listener the same port.
    const sharedPorts = (next: ProxyConfig) => {
      const zero = next.tenants.filter((t) => t.listeners.some((l) => l.port === 0)).map((t) => t.name);
      return this.share > 1 && zero.length > 0 ? `listeners on port 0 cannot be shared by workers (tenants ${zero.join(', ')})` : undefined;
    };
    this.live = source === undefined ? undefined : new LiveConfig(config, source.raw, source.readFile, sharedPorts);
    this.log = log;
    this.metrics = metrics;
    this.members = new EnsembleMembers(ensemblesOf(config)[0]!.members, {
      initialMs: config.backend.failureBackoffInitialMs,
      maxMs: config.backend.failureBackoffMaxMs,
    });
    this.probe = new EnsembleProbe(this.members);
    this.limitLog = new RateLimitedLog(log, 10_000);
    const admin = ensembleAdmin(config);
    const adminIdentity = admin === undefined ? undefined : digestIdentity(admin.user, admin.password);
    const roots = (this.roots = new TenantRootKeeper(this.members, log, config.backend.connectTimeoutMs, adminIdentity));
    const secret = resolveSecret(config);
    const hiddenIdentities = adminIdentity === undefined ? [] : [adminIdentity.id];
    this.tenantContext = { secret, hiddenIdentities };
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
      onBackendSilent: (member, silentMs) => {
        this.members.markFailure(member);
        metrics.backendSilent.labels(member.key).inc();
        this.limitLog.warn(
          `silent/${member.key}`,
          { member: member.key, silentMs: Math.round(silentMs) },
          'a client gave up on an ensemble member that stopped answering; trying others first',
        );
      },
      onBackendOpened: (member) => metrics.backendConnections.labels(member).inc(),
      onBackendClosed: (member) => metrics.backendConnections.labels(member).dec(),
      allowSasl: config.security.allowSasl,
      ensembleMaxFrameBytes: config.ensembleMaxFrameBytes,
      refusalLog: this.limitLog,
    };
    for (const tenantConfig of config.tenants) this.addTenant(tenantConfig, config);
    if (config.registry.path !== null) {
      if (this.live === undefined) throw new ConfigError('registry.path needs the configuration source (ProxyServer source argument)');
      this.registryWatch = new RegistryWatch({
        members: this.members,
        path: config.registry.path,
        admin: adminIdentity,
        connectTimeoutMs: config.backend.connectTimeoutMs,
        log,
        onSnapshot: (snapshot) =>
          this.update('registry', () => this.live!.applyRegistry(snapshot.data), { registryVersion: snapshot.version }),
      });
    }
    config.tlsListeners.forEach((tlsConfig, index) => this.tlsListeners.push(this.createTlsListener(tlsConfig, index)));
    metrics.tenants.set(this.tenants.size);
    metrics.setTenantStateSource(() =>
      [...this.tenants.values()].map((t) => ({ name: t.name, watches: t.limiter.watches, limits: t.limiter.limits })),
    );
    if (config.admin.listen !== null) {
      this.admin = new AdminServer(
        {
          ready: () => this.ready(),
          describe: () => this.describe(),
          metrics: async () => ({ text: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
          reload: () => this.reloadFile(),
          drain: () => void this.drain(config.drain.periodMs),
        },
        resolveAdminToken(config),
      );
    }
  }

  /**
   * The memory guard: total bytes held in buffers (pending writes both ways, partial frames, held
   * requests) are checked often. Above total.maxBufferedBytes (until they fall under 80% of it),
   * the sessions of every tenant holding more than an even share of that budget stop reading
   * from their clients (each tenant with the same 80% hysteresis). Per-session flow control
   * already bounds each session; this bounds their sum without letting one tenant's slow
   * readers stop every other tenant: a tenant under its share is still read (it may grow to
   * its share before it is paused too).
   */
  private guardMemory(): void {
    let total = 0;
    const byTenant = new Map<Tenant, number>();
    for (const session of this.sessions) {
      const bytes = session.bufferedBytes;
      total += bytes;
      byTenant.set(session.tenant, (byTenant.get(session.tenant) ?? 0) + bytes);
    }
    this.metrics.bufferedBytes.set(total);
    const max = Math.ceil(this.config.total.maxBufferedBytes / this.share);
    const pressure = this.memory.pressure ? total > max * 0.8 : total > max;
    if (pressure !== this.memory.pressure) {
      this.memory.pressure = pressure;
      this.metrics.memoryPressure.set(pressure ? 1 : 0);
      this.log.warn(
        { bufferedBytes: total, maxBufferedBytes: max },
        pressure ? 'memory guard: not reading from clients over their share' : 'memory guard: reading again',
      );
    }
    const share = max / Math.max(1, byTenant.size);
    for (const tenant of this.tenants.values()) {
      const bytes = byTenant.get(tenant) ?? 0;
      const paused = pressure && (tenant.limiter.memoryPaused ? bytes > share * 0.8 : bytes > share);
      if (paused === tenant.limiter.memoryPaused) continue;
      tenant.limiter.memoryPaused = paused;
      if (paused)
        this.limitLog.warn(
          `${tenant.name}/memory`,
          { tenant: tenant.name, bufferedBytes: bytes, share: Math.round(share) },
          "memory guard: not reading from the tenant's clients",
        );
      for (const session of this.sessions) if (session.tenant === tenant) session.refreshFlow();
    }
  }

  async start(): Promise<void> {
    this.memoryTimer = setInterval(() => this.guardMemory(), 100);
    this.memoryTimer.unref();
    this.started = true;
    await Promise.all(this.listeners.map((listener) => this.bind(listener)));
    await Promise.all(
      this.tlsListeners.map(
        (listener) =>
          new Promise<void>((resolve, reject) => {
            const requested = listener.config.listen;
            listener.server.once('error', (error) =>
              reject(new Error(`cannot listen on ${formatHostPort(requested)} (TLS listener): ${error.message}`)),
            );
            listener.server.listen({ host: requested.host, port: requested.port }, () => {
              listener.bound = { host: requested.host, port: (listener.server.address() as AddressInfo).port };
              resolve();
            });
          }),
      ),
    );
    if (this.admin !== undefined && this.config.admin.listen !== null)
      this.adminAddress = await this.admin.listen(this.config.admin.listen);
    // Registry tenants are served as soon as they are known; an unreachable ensemble does not
    // hold the start-up back (the file's tenants are served meanwhile, the watch keeps trying).
    if (this.registryWatch !== undefined && !(await this.registryWatch.start(this.config.backend.connectTimeoutMs * 2))) {
      this.log.warn({ registry: this.config.registry.path }, "tenant registry not read yet; serving the file's tenants meanwhile");
    }
    this.log.info(
      {
        listeners: this.listenerAddresses().map((l) => `${l.tenant}@${formatHostPort(l.address)}`),
        tlsListeners: this.tlsListenerAddresses().map(formatHostPort),
        admin: this.adminAddress && formatHostPort(this.adminAddress),
        ensemble: this.members.all.map((m) => m.key),
      },
      this.share > 1 ? 'worker listening' : 'proxy listening',
    );
  }

  /** A tenant's limits as this process enforces them: its share when it is one of several workers. */
  private limitsOf(config: ProxyConfig, tenant: TenantConfig): Limits {
    const limits = limitsFor(config, tenant);
    return this.share === 1 ? limits : shareOf(limits, this.share);
  }

  private bind(listener: Listener): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      listener.server.once('error', (error) =>
        reject(new Error(`cannot listen on ${formatHostPort(listener.requested)} for tenant ${listener.tenant.name}: ${error.message}`)),
      );
      listener.server.listen({ host: listener.requested.host, port: listener.requested.port }, () => {
        listener.bound = { host: listener.requested.host, port: (listener.server.address() as AddressInfo).port };
        resolve();
      });
    });
  }

  private addTenant(tenantConfig: TenantConfig, config: ProxyConfig): Tenant {
    const tenant = tenantFromConfig(
      { name: tenantConfig.name, chroot: tenantConfig.chroot ?? defaultChroot(tenantConfig.name) },
      { ...this.tenantContext, limits: this.limitsOf(config, tenantConfig) },
    );
    this.tenants.set(tenant.name, tenant);
    for (const requested of tenantConfig.listeners) this.addListener(tenant, requested);
    return tenant;
  }

  private addListener(tenant: Tenant, requested: HostPort): Listener {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket, tenant));
    const listener: Listener = { tenant, requested, server };
    this.listeners.push(listener);
    return listener;
  }

  private closeListener(listener: Listener): void {
    this.listeners.splice(this.listeners.indexOf(listener), 1);
    listener.server.close();
  }

  /** Ensemble reachable and not draining (GET /readyz). */
  async ready(): Promise<{ ready: boolean; reason?: string }> {
    if (this.draining) return { ready: false, reason: 'draining' };
    return (await this.probe.reachable()) ? { ready: true } : { ready: false, reason: 'ensemble unreachable' };
  }

  /** SIGHUP or a changed file: the file is read again and applied like a registry update. */
  reloadFile(): Promise<boolean> {
    if (this.live === undefined || !this.live.canReloadFile) {
      this.log.warn('reload requested, but the proxy was not started from a configuration file');
      return Promise.resolve(false);
    }
    return this.update('file', () => this.live!.reloadFile());
  }

  /**
   * Applies a new configuration whole, or nothing of it: tenants added (listeners bound), removed
   * (listeners closed, connections closed), changed (limits apply to existing connections at
   * once; a new chroot is a new tenant). Connections of unchanged tenants are never touched.
   */
  private async update(source: 'file' | 'registry', compose: () => ConfigUpdate, detail: Record<string, unknown> = {}): Promise<boolean> {
    let update: ConfigUpdate;
    try {
      update = compose();
    } catch (error) {
      this.metrics.configReloads.labels(source, 'rejected').inc();
      this.log.error(
        { source, ...detail, err: (error as Error).message },
        'configuration update rejected; the last good configuration stays in force',
      );
      return false;
    }
    if (update.needsRestart.length > 0)
      this.log.warn({ source, keys: update.needsRestart }, 'configuration keys changed that only a restart applies; running values kept');
    const next = update.config;
    const previous = new Map(this.config.tenants.map((t) => [t.name, t]));
    const wanted = new Map(next.tenants.map((t) => [t.name, t]));
    const changes = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
    const binding: Promise<void>[] = [];
    for (const [name, old] of previous) {
      const replacement = wanted.get(name);
      if (replacement !== undefined && (replacement.chroot ?? defaultChroot(name)) === (old.chroot ?? defaultChroot(name))) continue;
      this.removeTenant(name, replacement === undefined ? 'tenant removed' : 'tenant chroot changed');
      if (replacement === undefined) changes.removed.push(name);
    }
    for (const [name, tenantConfig] of wanted) {
      let tenant = this.tenants.get(name);
      if (tenant === undefined) {
        tenant = this.addTenant(tenantConfig, next);
        if (this.started) binding.push(...this.listeners.filter((l) => l.tenant === tenant).map((l) => this.bind(l)));
        changes.added.push(name);
        continue;
      }
      let changed = false;
      const limits = this.limitsOf(next, tenantConfig);
      if (!isDeepStrictEqual(limits, tenant.limiter.limits)) {
        const quotaChanged = limits.maxZnodes !== tenant.limiter.limits.maxZnodes || limits.maxBytes !== tenant.limiter.limits.maxBytes;
        tenant.limiter.reconfigure(limits);
        for (const session of this.sessions) if (session.tenant === tenant) session.refreshFlow();
        if (quotaChanged)
          this.roots
            .refresh(tenant)
            .catch((error: unknown) =>
              this.log.error(
                { tenant: name, err: (error as Error).message },
                'applying the changed quota failed; retried with the next connection',
              ),
            );
        changed = true;
      }
      const keep = new Set(tenantConfig.listeners.map(formatHostPort));
      for (const listener of this.listeners.filter((l) => l.tenant === tenant)) {
        if (!keep.delete(formatHostPort(listener.requested))) {
          this.closeListener(listener); // its connections stay: the tenant is still served
          changed = true;
        }
      }
      for (const key of keep) {
        const listener = this.addListener(tenant, tenantConfig.listeners.find((l) => formatHostPort(l) === key)!);
        if (this.started) binding.push(this.bind(listener));
        changed = true;
      }
      if (changed) changes.changed.push(name);
    }
    this.config = next;
    const results = await Promise.allSettled(binding);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    this.metrics.configReloads.labels(source, failed.length > 0 ? 'partial' : 'applied').inc();
    this.metrics.tenants.set(this.tenants.size);
    const log = { source, ...detail, ...changes, tenants: this.tenants.size, ...(failed.length > 0 ? { listenFailures: failed } : {}) };
    if (failed.length > 0) this.log.error(log, 'configuration applied, but some listeners could not be bound');
    else this.log.info(log, 'configuration applied');
    return failed.length === 0;
  }

  private removeTenant(name: string, reason: string): void {
    const tenant = this.tenants.get(name);
    if (tenant === undefined) return;
    this.tenants.delete(name);
    for (const listener of this.listeners.filter((l) => l.tenant === tenant)) this.closeListener(listener);
    for (const session of [...this.sessions]) if (session.tenant === tenant) session.close(reason);
  }

  /** The addresses actually bound (port 0 in the config becomes a real port). */
  listenerAddresses(): { tenant: string; address: HostPort }[] {
    return this.listeners.map((l) => ({ tenant: l.tenant.name, address: l.bound ?? l.requested }));
  }

  /** The TLS listeners' bound addresses, in configuration order. */
  tlsListenerAddresses(): HostPort[] {
    return this.tlsListeners.map((l) => l.bound ?? l.config.listen);
  }

  adminListenAddress(): HostPort | undefined {
    return this.adminAddress;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** `via`: the TLS listener and the certificate identity, which every log line of the session carries. */
  private accept(
    socket: Socket,
    tenant: Tenant,
    via?: { listener: TlsListener; identity: Record<string, unknown>; x509Subject: string | undefined },
  ): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    // Over a connection limit: closed before a byte is read, so no ConnectResponse ever goes out.
    const maxConnections = Math.ceil(this.config.total.maxConnections / this.share);
    const proxyFull = maxConnections > 0 && this.sessions.size >= maxConnections;
    if (proxyFull || !tenant.limiter.tryOpenConnection()) {
      this.metrics.refused.labels(tenant.name, 'connection_limit').inc();
      this.limitLog.warn(
        `${tenant.name}/connections`,
        { tenant: tenant.name, scope: proxyFull ? 'proxy' : 'tenant', remote: socket.remoteAddress },
        'connection refused: limit reached',
      );
      socket.destroy();
      return;
    }
    let metrics = this.tenantMetrics.get(tenant.name);
    if (metrics === undefined) this.tenantMetrics.set(tenant.name, (metrics = this.metrics.forTenant(tenant.name)));
    const env = via === undefined ? this.env : { ...this.env, log: this.log.child({ tls: via.identity }) };
    if (via !== undefined) via.listener.connections++;
    const session = new ClientSession(
      socket,
      tenant,
      env,
      metrics,
      (closed) => {
        this.sessions.delete(closed);
        tenant.limiter.closeConnection();
        if (via !== undefined) via.listener.connections--;
      },
      via?.x509Subject,
    );
    this.sessions.add(session);
  }

  /**
   * A TLS listener: the handshake itself refuses clients without a certificate from the listener's
   * CA (requestCert + rejectUnauthorized); a verified certificate that names no configured tenant
   * is closed right after the handshake, before a byte of it is read.
   */
  private createTlsListener(config: TlsListenerConfig, index: number): TlsListener {
    const material = loadTlsMaterial(config, index);
    let server: TlsServer;
    try {
      server = createTlsServer({
        cert: material.cert,
        key: material.key,
        ca: material.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        // A client that never finishes the handshake is dropped like one that sends no ConnectRequest.
        handshakeTimeout: this.config.client.handshakeTimeoutMs,
        noDelay: true,
      });
    } catch (error) {
      throw new ConfigError(`invalid configuration:\n  tlsListeners[${index}]: ${(error as Error).message}`);
    }
    const listener: TlsListener = { config, server, certValidTo: material.certificate.validTo, connections: 0, handshaking: new Map() };
    server.on('connection', (raw: Socket) => {
      const remote = `${raw.remoteAddress}:${raw.remotePort}`;
      listener.handshaking.set(remote, raw);
      raw.once('close', () => {
        if (listener.handshaking.get(remote) === raw) listener.handshaking.delete(remote);
      });
    });
    server.on('secureConnection', (socket) => this.acceptTls(socket, listener));
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
      // Node does not close the socket after every such error: after ERR_TLS_HANDSHAKE_TIMEOUT it
      // would stay open for good (a client that connects and says nothing).
      socket.destroy();
      // A certificate the CA did not sign completes OpenSSL's handshake; node then destroys the
      // socket before handing it over and reports a synthetic ECONNRESET: authorizationError says why.
      const untrusted = socket.authorizationError as unknown as string | undefined;
      const reason = untrusted ? `client certificate not trusted: ${untrusted}` : (error.code ?? error.message.split('\n')[0]);
      // Scanners and misconfigured clients: worth a line, not a warning.
      this.log.info(
        { listener: formatHostPort(listener.bound ?? config.listen), remote: `${socket.remoteAddress}:${socket.remotePort}`, reason },
        'TLS handshake failed',
      );
    });
    return listener;
  }

  private acceptTls(socket: TLSSocket, listener: TlsListener): void {
    listener.handshaking.delete(`${socket.remoteAddress}:${socket.remotePort}`);
    if (this.draining) {
      socket.destroy();
      return;
    }
    const cert = socket.getPeerCertificate();
    const result = socket.authorized ? tenantOfCertificate(cert, listener.config.tenantFrom, (name) => this.tenants.has(name)) : undefined;
    const certificate = {
      subject: cert.subject === undefined ? undefined : flattenName(cert.subject),
      issuer: cert.issuer === undefined ? undefined : flattenName(cert.issuer),
      serial: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
    };
    const where = {
      listener: formatHostPort(listener.bound ?? listener.config.listen),
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
    };
    if (result === undefined || !result.ok) {
      // Closed before anything is read: no tenant, so nothing of the client's reaches a session.
      socket.destroy();
      this.metrics.refused.labels('', 'unknown_identity').inc();
      const reason = result === undefined ? `certificate not authorized: ${String(socket.authorizationError)}` : result.reason;
      this.log.warn(
        { ...where, tenantFrom: listener.config.tenantFrom, claimed: result?.ok === false ? result.claimed : [], reason, certificate },
        'refused a TLS client: its certificate names no configured tenant',
      );
      return;
    }
    const tenant = this.tenants.get(result.tenant)!;
    const x509Subject = x509SubjectName(socket.getPeerX509Certificate());
    this.accept(socket, tenant, {
      listener,
      identity: {
        listener: where.listener,
        identity: result.identity,
        subject: certificate.subject,
        serial: certificate.serial,
        fingerprint256: certificate.fingerprint256,
      },
      x509Subject,
    });
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
      listenersClosed = Promise.all(
        [...this.listeners, ...this.tlsListeners].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
      );
      // Handshakes still under way would hold server.close() for up to handshakeTimeoutMs.
      for (const listener of this.tlsListeners) for (const raw of listener.handshaking.values()) raw.destroy();
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
    clearInterval(this.memoryTimer);
    await this.registryWatch?.close();
    await this.drain(0);
    await this.admin?.close();
  }

  describe(): unknown {
    const byTenant = new Map<string, number>();
    for (const session of this.sessions) byTenant.set(session.tenant.name, (byTenant.get(session.tenant.name) ?? 0) + 1);
    return {
      pid: process.pid,
      draining: this.draining,
      ensemble: this.members.all.map((m) => ({
        member: m.key,
        consecutiveFailures: m.consecutiveFailures,
        avoidUntil: m.avoidUntil || null,
      })),
      tenants: this.config.tenants.map((t) => ({
        name: t.name,
        chroot: t.chroot ?? `/tenants/${t.name}`,
        listeners: this.listeners.filter((l) => l.tenant.name === t.name).map((l) => formatHostPort(l.bound ?? l.requested)),
        connections: byTenant.get(t.name) ?? 0,
        watches: this.tenants.get(t.name)?.limiter.watches ?? 0,
        limits: this.tenants.get(t.name)?.limiter.limits,
      })),
      registry: this.config.registry.path === null ? null : { path: this.config.registry.path, revision: this.live?.registryRevision ?? 0 },
      tlsListeners: this.tlsListeners.map((l) => ({
        listen: formatHostPort(l.bound ?? l.config.listen),
        tenantFrom: l.config.tenantFrom,
        cert: l.config.cert,
        ca: l.config.ca,
        certValidTo: l.certValidTo,
        connections: l.connections,
      })),
    };
  }
}

/** "CN=alpha, O=acme" from node's certificate name object (multi-valued attributes repeated). */
function flattenName(name: Record<string, string | string[] | undefined>): string {
  return Object.entries(name)
    .flatMap(([key, value]) => (value === undefined ? [] : Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}`))
    .join(', ');
}
