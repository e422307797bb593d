/**
 * Desired state and observed status, kept in the ensemble under the controller's platform path
 * (default /zkproxy/controller, admin-only ACL):
 *
 *   <root>/tenants/<name>   desired state of one tenant (JSON TenantRecord); its znode version is the generation
 *   <root>/status/<name>    what the reconciler last did for it (JSON TenantStatus)
 *   <root>/ports/<port>     claim of a listener port by a tenant (data: the tenant name)
 *   <root>/leader/          leader election candidates
 *   <root>/moves/<name>     a move of the tenant between ensembles under way (written by the mover, docs/ensembles.md)
 *
 * Every write is a create or a compare-and-set on the znode version, so concurrent CLI calls,
 * API calls and controller replicas never lose each other's updates.
 */
import type { RecordValue } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import type { LimitsInput } from '../config/config.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import type { ClusterSpec } from './spec.ts';
import { childrenOf, createNode, deleteNode, ensurePath, readNode, setNode } from './zookeeper.ts';

export interface TenantRecord {
  name: string;
  /** The tenant's proxy listener, "host:port", as published in the registry. */
  listener: string;
  limits?: LimitsInput;
  /**
   * The ensemble (a name of the controller's `ensembles`) holding the tenant's tree. Absent: the
   * home ensemble (records made before placement, and every record of the one-ensemble form).
   */
  ensemble?: string;
  /** The Flink cluster the tenant should have; null: none (never deployed, or destroyed). */
  cluster: ClusterSpec | null;
  /** Set by `tenant delete`: the reconciler removes everything, then this record. */
  deleting?: boolean;
}

export interface TenantStatus {
  /** Version of the desired-state znode this status reflects. */
  observedGeneration: number;
  /** The cluster spec whose manifests are applied now (null: none). */
  appliedCluster: ClusterSpec | null;
  /** The tenant's retained objects (namespace, job volume, bucket configuration) exist. */
  retainedApplied: boolean;
  reconciledBy: string;
  reconciledAt: string;
  /** The last reconcile's failure, if it failed. */
  error?: string;
}

export interface Versioned<T> {
  value: T;
  version: number;
}

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 1)}\n`);

export class DesiredStateStore {
  readonly client: JuteClient;
  readonly root: string;
  readonly acl: RecordValue[];

  constructor(client: JuteClient, root: string, acl: RecordValue[]) {
    this.client = client;
    this.root = root;
    this.acl = acl;
  }

  get tenantsPath(): string {
    return `${this.root}/tenants`;
  }
  get statusPath(): string {
    return `${this.root}/status`;
  }
  get portsPath(): string {
    return `${this.root}/ports`;
  }
  get leaderPath(): string {
    return `${this.root}/leader`;
  }
  get movesPath(): string {
    return `${this.root}/moves`;
  }

  async init(): Promise<void> {
    for (const path of [this.tenantsPath, this.statusPath, this.portsPath, this.leaderPath]) await ensurePath(this.client, path, this.acl);
  }

  async tenantNames(watch = false): Promise<string[]> {
    return (await childrenOf(this.client, this.tenantsPath, watch)) ?? [];
  }

  async tenant(name: string, watch = false): Promise<Versioned<TenantRecord> | null> {
    const node = await readNode(this.client, `${this.tenantsPath}/${name}`, watch);
    return node === null ? null : { value: JSON.parse(node.data.toString('utf8')) as TenantRecord, version: node.version };
  }

  async requireTenant(name: string): Promise<Versioned<TenantRecord>> {
    const found = await this.tenant(name);
    if (found === null) throw new NotFoundError(`tenant "${name}" does not exist`);
    return found;
  }

  async createTenant(record: TenantRecord): Promise<void> {
    if (!(await createNode(this.client, `${this.tenantsPath}/${record.name}`, json(record), this.acl)))
      throw new ConflictError(`tenant "${record.name}" already exists`);
  }

  /**
   * Changes a tenant's record with compare-and-set, re-reading and re-running `change` when
   * another writer came first. `change` may throw (validation, conflict) to refuse.
   */
  async updateTenant(name: string, change: (record: TenantRecord) => TenantRecord): Promise<Versioned<TenantRecord>> {
    for (;;) {
      const current = await this.requireTenant(name);
      const next = change(structuredClone(current.value));
      if (await setNode(this.client, `${this.tenantsPath}/${name}`, json(next), current.version))
        return { value: next, version: current.version + 1 };
    }
  }

  /** Removes the record if it is still at `version`; false when it changed meanwhile. */
  removeTenant(name: string, version: number): Promise<boolean> {
    return deleteNode(this.client, `${this.tenantsPath}/${name}`, version);
  }

  /** Whether a move of the tenant between ensembles is under way: the mover owns its tree and registry entry until it ends. */
  async moving(name: string): Promise<boolean> {
    return (await readNode(this.client, `${this.movesPath}/${name}`)) !== null;
  }

  async status(name: string): Promise<TenantStatus | null> {
    const node = await readNode(this.client, `${this.statusPath}/${name}`);
    return node === null ? null : (JSON.parse(node.data.toString('utf8')) as TenantStatus);
  }

  async setStatus(name: string, status: TenantStatus): Promise<void> {
    const path = `${this.statusPath}/${name}`;
    if (await createNode(this.client, path, json(status), this.acl)) return;
    await setNode(this.client, path, json(status), -1);
  }

  async removeStatus(name: string): Promise<void> {
    await deleteNode(this.client, `${this.statusPath}/${name}`);
  }

  /** Claims `port` for `tenant`: 'claimed' now, 'owned' already, or 'taken' by another tenant. */
  async claimPort(port: number, tenant: string): Promise<'claimed' | 'owned' | 'taken'> {
    const path = `${this.portsPath}/${port}`;
    if (await createNode(this.client, path, Buffer.from(tenant), this.acl)) return 'claimed';
    return (await readNode(this.client, path))?.data.toString() === tenant ? 'owned' : 'taken';
  }

  async claimedPorts(): Promise<Set<number>> {
    return new Set(((await childrenOf(this.client, this.portsPath)) ?? []).map(Number));
  }

  async releasePort(port: number, tenant: string): Promise<void> {
    const path = `${this.portsPath}/${port}`;
    const node = await readNode(this.client, path);
    if (node !== null && node.data.toString() === tenant) await deleteNode(this.client, path, node.version);
  }
}
