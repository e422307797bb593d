/**
 * The proxy process: one TCP listener per tenant listener address, TLS listeners shared by all
 * tenants (the client certificate names the tenant), one ClientSession per client connection, the
 * admin listener, and the drain that SIGTERM/SIGINT trigger.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { AdminServer } from '../admin/admin-server.ts';
import type { EnsembleMembers } from '../backend/members.ts';
import {
  ConfigError,
  defaultChroot,
  ensembleOfTenant,
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
import { ReplicaRecord, replicaId } from '../ensemble-admin/replica-record.ts';
import type { Logger } from '../observability/logger.ts';
import { ProxyMetrics, type TenantMetrics } from '../observability/metrics.ts';
import { ClientSession } from '../session/client-session.ts';
import { shareOf } from '../limits/limits.ts';
import { tenantFromConfig, type Tenant, type TenantContext } from '../tenancy/tenant.ts';
import { RateLimitedLog } from '../observability/rate-limited-log.ts';
import { tenantOfCertificate, x509SubjectName } from '../tenancy/tls-identity.ts';
import { EnsembleBackend, ensemblesReady } from './ensemble-backend.ts';

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
  /** The home ensemble's members (the first configured). */
  readonly members: EnsembleMembers;
  private config: ProxyConfig;
  private readonly live: LiveConfig | undefined;
  private readonly registryWatch: RegistryWatch | undefined;
  private readonly replicaRecord: ReplicaRecord | undefined;
  /** Every configured ensemble by name, the home ensemble first. */
  private readonly ensembles = new Map<string, EnsembleBackend>();
  private readonly home: EnsembleBackend;
  /** The ensemble each tenant is served from now (a registry update may move it). */
  private readonly tenantEnsemble = new Map<Tenant, EnsembleBackend>();
  /** moveHoldMaxMs timers of the tenants held now. */
  private readonly holdTimers = new Map<Tenant, NodeJS.Timeout>();
  /** Polls the held tenants' in-flight counts while any is held (for the replica record). */
  private quiesceTimer: NodeJS.Timeout | undefined;
  /** Version of the registry znode whose content is in force (-1: none yet). */
  private registryVersion = -1;
  private readonly tenantContext: Omit<TenantContext, 'limits'>;
  private started = false;
  private readonly share: number;
  private readonly log: Logger;
  private readonly listeners: Listener[] = [];
  private readonly tlsListeners: TlsListener[] = [];
  private readonly tenants = new Map<string, Tenant>();
  private readonly sessions = new Set<ClientSession>();
  private readonly tenantMetrics = new Map<string, TenantMetrics>();
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
    this.limitLog = new RateLimitedLog(log, 10_000);
    ensemblesOf(config).forEach((ensemble, index) =>
      this.ensembles.set(ensemble.name, new EnsembleBackend(ensemble, index === 0, config, log, metrics, this.limitLog)),
    );
    this.home = this.ensembles.values().next().value!;
    this.members = this.home.members;
    const secret = resolveSecret(config);
    // No tenant may see or name the admin identity of any ensemble.
    const hiddenIdentities = [...new Set([...this.ensembles.values()].flatMap((e) => (e.admin === undefined ? [] : [e.admin.id])))];
    this.tenantContext = { secret, hiddenIdentities };
    for (const tenantConfig of config.tenants) this.addTenant(tenantConfig, config);
    if (config.registry.path !== null) {
      if (this.live === undefined) throw new ConfigError('registry.path needs the configuration source (ProxyServer source argument)');
      const homeLog = log.child({ ensemble: this.home.name });
      this.registryWatch = new RegistryWatch({
        members: this.home.members,
        path: config.registry.path,
        admin: this.home.admin,
        connectTimeoutMs: config.backend.connectTimeoutMs,
        log: homeLog,
        onSnapshot: (snapshot) =>
          this.update('registry', () => this.live!.applyRegistry(snapshot.data), { registryVersion: snapshot.version }),
      });
      this.replicaRecord = new ReplicaRecord({
        members: this.home.members,
        parent: config.registry.replicasPath,
        id: replicaId(),
        admin: this.home.admin,
        connectTimeoutMs: config.backend.connectTimeoutMs,
        log: homeLog,
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
    this.replicaRecord?.start(this.replicaState());
    this.watchQuiescence();
    if (this.registryWatch !== undefined && !(await this.registryWatch.start(this.config.backend.connectTimeoutMs * 2))) {
      this.log.warn({ registry: this.config.registry.path }, "tenant registry not read yet; serving the file's tenants meanwhile");
    }
    this.log.info(
      {
        listeners: this.listenerAddresses().map((l) => `${l.tenant}@${formatHostPort(l.address)}`),
        tlsListeners: this.tlsListenerAddresses().map(formatHostPort),
        admin: this.adminAddress && formatHostPort(this.adminAddress),
        ensemble: this.home.members.all.map((m) => m.key),
        ...(this.ensembles.size > 1
          ? { ensembles: Object.fromEntries([...this.ensembles.values()].map((e) => [e.name, e.members.all.map((m) => m.key)])) }
          : {}),
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
    this.tenantEnsemble.set(tenant, this.ensembles.get(ensembleOfTenant(config, tenantConfig))!);
    if (tenantConfig.hold === true) this.startHold(tenant);
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

  /**
   * Not draining, and every ensemble that serves a tenant reachable (GET /readyz); with no tenant
   * yet, the home ensemble (the registry's).
   */
  async ready(): Promise<{ ready: boolean; reason?: string }> {
    if (this.draining) return { ready: false, reason: 'draining' };
    const serving = new Set(this.tenantEnsemble.values());
    return ensemblesReady(serving.size === 0 ? [this.home] : [...this.ensembles.values()].filter((e) => serving.has(e)));
  }

  // ------------------------------------------------------------------ moves: ensemble changes and holds

  /** The entry says `hold: true`: its requests and handshakes wait, for moveHoldMaxMs at most. */
  private startHold(tenant: Tenant): void {
    if (tenant.hold.active) return;
    tenant.hold.active = true;
    tenant.hold.expired = false;
    const maxMs = this.config.moveHoldMaxMs;
    const timer = setTimeout(() => {
      tenant.hold.expired = true;
      const closing = [...this.sessions].filter((session) => session.tenant === tenant);
      this.log.warn(
        { tenant: tenant.name, moveHoldMaxMs: maxMs, connections: closing.length },
        'tenant held longer than moveHoldMaxMs: closing its connections',
      );
      for (const session of closing) session.close('tenant held longer than moveHoldMaxMs');
    }, maxMs);
    timer.unref();
    this.holdTimers.set(tenant, timer);
  }

  private endHold(tenant: Tenant): void {
    if (!tenant.hold.active) return;
    tenant.hold.active = false;
    tenant.hold.expired = false;
    clearTimeout(this.holdTimers.get(tenant));
    this.holdTimers.delete(tenant);
    for (const session of [...this.sessions]) if (session.tenant === tenant) session.moveHoldEnded();
  }

  /** Held tenants with nothing in flight to the ensemble: no request, no handshake. */
  private quiescedTenants(): string[] {
    return [...this.holdTimers.keys()]
      .filter((t) => t.hold.active && t.limiter.inFlight === 0 && t.hold.handshakes === 0)
      .map((t) => t.name)
      .sort();
  }

  private replicaState(): { registryVersion: number; quiesced: string[] } {
    return { registryVersion: this.registryVersion, quiesced: this.quiescedTenants() };
  }

  /**
   * While a tenant is held its in-flight requests drain; the replica record must say so soon
   * after. Polled (not counted on every reply) so that the request path stays as it is. Called
   * once a configuration is in force, so that a record never pairs a hold with an older version.
   */
  private watchQuiescence(): void {
    this.replicaRecord?.set(this.replicaState());
    if (this.holdTimers.size === 0 || this.quiesceTimer !== undefined) return;
    this.quiesceTimer = setInterval(() => {
      this.replicaRecord?.set(this.replicaState());
      if (this.holdTimers.size === 0) {
        clearInterval(this.quiesceTimer);
        this.quiesceTimer = undefined;
      }
    }, 50);
    this.quiesceTimer.unref();
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
    const changes = { added: [] as string[], removed: [] as string[], changed: [] as string[], moved: [] as string[] };
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
      const ensemble = this.ensembles.get(ensembleOfTenant(next, tenantConfig))!;
      if (this.tenantEnsemble.get(tenant) !== ensemble) {
        // Its sessions live on the old ensemble: the clients reconnect (same listeners) to the new one.
        const from = this.tenantEnsemble.get(tenant)!.name;
        this.tenantEnsemble.set(tenant, ensemble);
        for (const session of [...this.sessions]) if (session.tenant === tenant) session.close('tenant moved');
        this.log.info({ tenant: name, from, to: ensemble.name }, 'tenant moved to another ensemble: its connections closed');
        changes.moved.push(name);
      }
      if (tenantConfig.hold === true) this.startHold(tenant);
      else this.endHold(tenant);
      const limits = this.limitsOf(next, tenantConfig);
      if (!isDeepStrictEqual(limits, tenant.limiter.limits)) {
        const quotaChanged = limits.maxZnodes !== tenant.limiter.limits.maxZnodes || limits.maxBytes !== tenant.limiter.limits.maxBytes;
        tenant.limiter.reconfigure(limits);
        for (const session of this.sessions) if (session.tenant === tenant) session.refreshFlow();
        if (quotaChanged)
          ensemble.roots
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
    if (typeof detail.registryVersion === 'number') this.registryVersion = detail.registryVersion;
    this.watchQuiescence();
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
    this.endHold(tenant); // after the close: nothing it held is sent
    this.tenantEnsemble.delete(tenant);
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
    const { env: ensembleEnv } = this.tenantEnsemble.get(tenant)!;
    const env = via === undefined ? ensembleEnv : { ...ensembleEnv, log: this.log.child({ tls: via.identity }) };
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
    clearInterval(this.quiesceTimer);
    for (const timer of this.holdTimers.values()) clearTimeout(timer);
    await this.registryWatch?.close();
    await this.replicaRecord?.close();
    await this.drain(0);
    await this.admin?.close();
  }

  describe(): unknown {
    const byTenant = new Map<string, number>();
    for (const session of this.sessions) byTenant.set(session.tenant.name, (byTenant.get(session.tenant.name) ?? 0) + 1);
    return {
      pid: process.pid,
      draining: this.draining,
      // The home ensemble's members, as before there were several.
      ensemble: this.home.describeMembers(),
      ensembles: [...this.ensembles.values()].map((e) => ({ name: e.name, members: e.describeMembers() })),
      tenants: this.config.tenants.map((t) => ({
        name: t.name,
        ensemble: ensembleOfTenant(this.config, t),
        hold: t.hold === true,
        chroot: t.chroot ?? `/tenants/${t.name}`,
        listeners: this.listeners.filter((l) => l.tenant.name === t.name).map((l) => formatHostPort(l.bound ?? l.requested)),
        connections: byTenant.get(t.name) ?? 0,
        watches: this.tenants.get(t.name)?.limiter.watches ?? 0,
        limits: this.tenants.get(t.name)?.limiter.limits,
      })),
      registry:
        this.config.registry.path === null
          ? null
          : {
              path: this.config.registry.path,
              revision: this.live?.registryRevision ?? 0,
              version: this.registryVersion,
              replica: this.replicaRecord?.path,
            },
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
