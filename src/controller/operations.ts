/**
 * The controller's operations, shared by the CLI and the HTTP API: each validates everything
 * first (a refused request changes nothing), then records the desired state, then hands the
 * tenant to `afterWrite` (the CLI converges at once; the API leaves it to the leader).
 */
import { ErrorCode, OpCode } from 'jute-ts';
import { defaultChroot, formatHostPort, parseHostPort, type HostPort, type LimitsInput } from '../config/config.ts';
import type { EnsembleSessions } from './ensemble-sessions.ts';
import { ConflictError, NotFoundError, ProblemList, ValidationError } from './errors.ts';
import { renderCluster } from './manifests.ts';
import { chooseEnsemble, measureEnsemble, type EnsembleMeasure } from './placement.ts';
import { previewCluster, type ClusterPreview } from './preview.ts';
import { effectiveLimits } from './reconcile.ts';
import type { RegistryWriter } from './registry-writer.ts';
import { fillTenant, type ControllerSettings } from './settings.ts';
import { checkLimits, checkListener, checkTenantName, resolveClusterSpec, tenantNameProblem, type ClusterSpec } from './spec.ts';
import type { DesiredStateStore, TenantRecord, TenantStatus, Versioned } from './store.ts';
import type { MoveRecord, TenantMover } from './tenant-move.ts';

export interface TenantRequest {
  name?: unknown;
  listener?: unknown;
  limits?: unknown;
  /** The ensemble to place the tenant on; absent: the one with the most headroom (placement.ts). */
  ensemble?: unknown;
}

export interface QuotaUsage {
  used: number | null;
  limit: number;
}

export interface TenantView {
  tenant: string;
  listener: string;
  /** The ensemble holding the tenant's tree. */
  ensemble: string;
  chroot: string;
  deleting: boolean;
  limits: LimitsInput;
  cluster: {
    desired: ClusterSpec | null;
    applied: ClusterSpec | null;
    /** Where Flink's HA client connects: the tenant's proxy address. */
    zookeeperAddress: string;
    namespace: string;
    bucket: string;
    ui: string | null;
  };
  zookeeper: { znodes: QuotaUsage; bytes: QuotaUsage };
  reconcile: {
    generation: number;
    observedGeneration: number | null;
    converged: boolean;
    reconciledBy: string | null;
    reconciledAt: string | null;
    error: string | null;
  };
}

export interface TenantSummary {
  tenant: string;
  listener: string;
  ensemble: string;
  flinkVersion: string | null;
  taskManagers: number | null;
  deleting: boolean;
  converged: boolean;
}

export class ControllerOperations {
  readonly store: DesiredStateStore;
  readonly registry: RegistryWriter;
  readonly settings: ControllerSettings;
  readonly afterWrite: (tenant: string) => Promise<void>;
  readonly ensembles: EnsembleSessions;
  readonly mover: TenantMover;

  constructor(
    store: DesiredStateStore,
    registry: RegistryWriter,
    settings: ControllerSettings,
    afterWrite: (tenant: string) => Promise<void>,
    ensembles: EnsembleSessions,
    mover: TenantMover,
  ) {
    this.mover = mover;
    this.store = store;
    this.registry = registry;
    this.settings = settings;
    this.afterWrite = afterWrite;
    this.ensembles = ensembles;
  }

  async createTenant(request: TenantRequest): Promise<TenantView> {
    const found = new ProblemList();
    const nameProblem = tenantNameProblem(request.name);
    if (nameProblem !== undefined) found.problems.push(nameProblem);
    const limits = found.check(() => checkLimits(request.limits));
    const listener = request.listener === undefined ? undefined : found.check(() => checkListener(request.listener));
    const requested = request.ensemble === undefined ? undefined : found.check(() => this.checkEnsemble(request.ensemble));
    found.throwIfAny();
    const name = request.name as string;
    if ((await this.store.tenant(name)) !== null) throw new ConflictError(`tenant "${name}" already exists`);
    const ensemble = requested ?? (await this.place());
    const { address, claim } = await this.claimListener(name, listener);
    const record: TenantRecord = {
      name,
      listener: address,
      ...(limits && Object.keys(limits).length > 0 ? { limits } : {}),
      // The one-ensemble form records none: its records and registry entries stay as they were.
      ...(this.settings.ensembles === undefined ? {} : { ensemble }),
      cluster: null,
    };
    try {
      await this.store.createTenant(record);
    } catch (error) {
      if (claim === 'claimed') await this.store.releasePort((parseHostPort(address) as HostPort).port, name);
      throw error;
    }
    await this.afterWrite(name);
    return this.status(name);
  }

  private checkEnsemble(raw: unknown): string {
    if (typeof raw !== 'string') throw new ValidationError([`ensemble must be the name of one of: ${this.ensembles.names.join(', ')}`]);
    return this.ensembles.ensemble(raw).name;
  }

  /** The ensemble a new tenant goes to: the only one, or the one with the most headroom. */
  private async place(): Promise<string> {
    if (this.ensembles.ensembles.length === 1) return this.ensembles.homeName;
    return chooseEnsemble(await Promise.all(this.ensembles.ensembles.map(measureEnsemble)));
  }

  /** Every ensemble with its members' mntr figures, headroom and the number of tenants placed on it. */
  async listEnsembles(): Promise<(EnsembleMeasure & { home: boolean; tenants: number })[]> {
    const [measures, records] = await Promise.all([Promise.all(this.ensembles.ensembles.map(measureEnsemble)), this.records()]);
    return measures.map((measure) => ({
      ...measure,
      home: measure.ensemble === this.ensembles.homeName,
      tenants: records.filter((record) => this.ensembles.of(record.value) === measure.ensemble).length,
    }));
  }

  private async records(): Promise<Versioned<TenantRecord>[]> {
    const records: Versioned<TenantRecord>[] = [];
    for (const name of await this.store.tenantNames()) {
      const found = await this.store.tenant(name);
      if (found !== null) records.push(found);
    }
    return records;
  }

  async updateLimits(name: string, rawLimits: unknown): Promise<TenantView> {
    checkTenantName(name);
    const limits = checkLimits(rawLimits);
    await this.store.updateTenant(name, (record) => {
      if (record.deleting) throw new ConflictError(`tenant "${name}" is being deleted`);
      const merged = { ...record.limits, ...limits };
      return { ...record, limits: merged };
    });
    await this.afterWrite(name);
    return this.status(name);
  }

  /** Refused while a Flink cluster is deployed: destroying the cluster is a separate, explicit step. */
  async deleteTenant(name: string): Promise<{ tenant: string; deleted: boolean }> {
    checkTenantName(name);
    if (await this.store.moving(name))
      throw new ConflictError(`tenant "${name}" is being moved between ensembles: delete it after the move`);
    await this.store.updateTenant(name, (record) => {
      if (record.cluster !== null)
        throw new ConflictError(
          `tenant "${name}" has a Flink cluster deployed: destroy it first (zookeeper-proxy cluster destroy ${name})`,
        );
      return { ...record, deleting: true };
    });
    await this.afterWrite(name);
    return { tenant: name, deleted: (await this.store.tenant(name)) === null };
  }

  async deploy(name: string, request: unknown): Promise<TenantView> {
    checkTenantName(name);
    const spec = resolveClusterSpec(request, this.settings.platform);
    await this.store.updateTenant(name, (record) => {
      if (record.deleting) throw new ConflictError(`tenant "${name}" is being deleted`);
      return { ...record, cluster: spec };
    });
    await this.afterWrite(name);
    return this.status(name);
  }

  /** What `deploy` would apply for the tenant's listener; records, converges and applies nothing. */
  async deployDryRun(name: string, request: unknown): Promise<ClusterPreview> {
    checkTenantName(name);
    resolveClusterSpec(request, this.settings.platform);
    const found = await this.store.tenant(name);
    if (found === null) throw new NotFoundError(`tenant "${name}" does not exist`);
    if (found.value.deleting) throw new ConflictError(`tenant "${name}" is being deleted`);
    return previewCluster(name, request, found.value.listener, this.settings.platform);
  }

  async destroy(name: string): Promise<TenantView> {
    checkTenantName(name);
    await this.store.updateTenant(name, (record) => ({ ...record, cluster: null }));
    await this.afterWrite(name);
    return this.status(name);
  }

  /** `tenant move`: runs the move (or its resume, or its roll-back) to its end in this process. */
  moveTenant(name: string, request: { to?: unknown; resume?: boolean; abort?: boolean }): Promise<MoveRecord> {
    checkTenantName(name);
    if (request.resume && request.abort) throw new ValidationError(['--resume and --abort exclude each other']);
    if (request.abort) return this.mover.abort(name);
    if (request.resume) return this.mover.resume(name);
    return this.mover.move(name, request.to);
  }

  /**
   * The API's move: validated and recorded at once (the answer), then run in the background by
   * this replica; GET the move until it is gone and the tenant names the target. A replica that
   * dies leaves the record for `tenant move --resume`.
   */
  async startMove(name: string, body: Record<string, unknown>, onFailure: (error: Error) => void): Promise<MoveRecord> {
    checkTenantName(name);
    const record = await this.mover.begin(name, body.to);
    this.mover.run(name).catch(onFailure);
    return record;
  }

  async moveStatus(name: string): Promise<MoveRecord> {
    checkTenantName(name);
    const found = await this.mover.record(name);
    if (found === null) throw new NotFoundError(`no move of tenant "${name}" is under way`);
    return found.value;
  }

  async list(): Promise<TenantSummary[]> {
    const summaries: TenantSummary[] = [];
    for (const found of await this.records()) {
      const name = found.value.name;
      const status = await this.store.status(name);
      summaries.push({
        tenant: name,
        listener: found.value.listener,
        ensemble: this.ensembles.of(found.value),
        flinkVersion: found.value.cluster?.flinkVersion ?? null,
        taskManagers: found.value.cluster?.taskManager.instances ?? null,
        deleting: found.value.deleting ?? false,
        converged: converged(found.version, status),
      });
    }
    return summaries;
  }

  async status(name: string): Promise<TenantView> {
    checkTenantName(name);
    const found = await this.store.tenant(name);
    if (found === null) throw new NotFoundError(`tenant "${name}" does not exist`);
    const record = found.value;
    const status = await this.store.status(name);
    const limits = effectiveLimits(this.settings, record);
    const port = (parseHostPort(record.listener) as HostPort).port;
    const rendered = renderCluster({
      tenant: name,
      spec: record.cluster ?? status?.appliedCluster ?? placeholderSpec(this.settings),
      listenerPort: port,
      platform: this.settings.platform,
    });
    const ensemble = this.ensembles.of(record);
    const usage = await this.quotaUsage(ensemble, defaultChroot(name));
    return {
      tenant: name,
      listener: record.listener,
      ensemble,
      chroot: defaultChroot(name),
      deleting: record.deleting ?? false,
      limits,
      cluster: {
        desired: record.cluster,
        applied: status?.appliedCluster ?? null,
        zookeeperAddress: fillTenant(this.settings.platform.proxyAddress, name, { port }),
        namespace: rendered.namespace,
        bucket: rendered.bucket,
        ui: record.cluster === null ? null : `https://${rendered.uiHost}`,
      },
      zookeeper: {
        znodes: { used: usage?.count ?? null, limit: limits.maxZnodes },
        bytes: { used: usage?.bytes ?? null, limit: limits.maxBytes },
      },
      reconcile: {
        generation: found.version,
        observedGeneration: status?.observedGeneration ?? null,
        converged: converged(found.version, status),
        reconciledBy: status?.reconciledBy ?? null,
        reconciledAt: status?.reconciledAt ?? null,
        error: status?.error ?? null,
      },
    };
  }

  /** ZooKeeper's own running totals for the quota'd root (what the hard quota is checked against); null when unknown or unreachable. */
  private async quotaUsage(ensemble: string, root: string): Promise<{ count: number; bytes: number } | null> {
    const reply = await this.ensembles
      .session(ensemble)
      .then((client) => client.request(OpCode.getData, { path: `/zookeeper/quota${root}/zookeeper_stats`, watch: false }))
      .catch(() => null);
    if (reply === null || reply.err !== ErrorCode.OK) return null;
    const text = (reply.body!.data as Buffer | null)?.toString() ?? '';
    const count = /count=(-?\d+)/.exec(text);
    const bytes = /bytes=(-?\d+)/.exec(text);
    return count && bytes ? { count: Number(count[1]), bytes: Number(bytes[1]) } : null;
  }

  /** The requested listener's port, or the lowest free port of the platform's range, claimed for `name`. */
  private async claimListener(name: string, requested: string | undefined): Promise<{ address: string; claim: 'claimed' | 'owned' }> {
    const inRegistry = new Set(
      (await this.registry.read()).tenants.flatMap((t) => (t.name === name ? [] : t.listeners.map((l) => l.port))),
    );
    if (requested !== undefined) {
      const port = (parseHostPort(requested) as HostPort).port;
      const claim = inRegistry.has(port) ? 'taken' : await this.store.claimPort(port, name);
      if (claim === 'taken') throw new ConflictError(`listener port ${port} is already used by another tenant`);
      return { address: requested, claim };
    }
    const { first, last } = this.settings.platform.tenantListenerPorts;
    const claimed = await this.store.claimedPorts();
    for (let port = first; port <= last; port++) {
      if (claimed.has(port) || inRegistry.has(port)) continue;
      const claim = await this.store.claimPort(port, name);
      if (claim !== 'taken') return { address: formatHostPort({ host: this.settings.platform.tenantListenerHost, port }), claim };
    }
    throw new ConflictError(`no free listener port left in ${first}-${last} (platform.tenantListenerPorts)`);
  }
}

function converged(generation: number, status: TenantStatus | null): boolean {
  return status !== null && status.observedGeneration === generation && status.error === undefined;
}

function placeholderSpec(settings: ControllerSettings): ClusterSpec {
  return resolveClusterSpec({ flinkVersion: '1.15' }, settings.platform);
}
