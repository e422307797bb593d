/**
 * Converges the world to one tenant's desired state, idempotently (running it twice, or from two
 * places, ends in the same world):
 *  - the tenant root /tenants/<name> with the tenant's ACL identity and hard quota, on the
 *    tenant's ensemble (the record's `ensemble`, else home),
 *  - the tenant's entry in the proxies' registry (on home), naming that ensemble,
 *  - the Flink cluster's manifests applied (or removed after destroy), the retained objects applied,
 *  - for a tenant being deleted: manifests, registry entry, tenant root and quota, port claim and
 *    records removed.
 * While a move of the tenant is under way (store.moving) the mover owns its tree and registry
 * entry: only the manifests are converged.
 */
import type { JuteClient } from 'jute-ts/client';
import type { EnsembleSessions } from './ensemble-sessions.ts';
import { defaultChroot, parseHostPort, type HostPort } from '../config/config.ts';
import { layeredLimits, type Limits } from '../limits/limits.ts';
import { applyQuota } from '../ensemble-admin/quota.ts';
import { tenantSecrets } from '../tenancy/credentials.ts';
import { ensureTenantRoot } from '../ensemble-admin/root-keeper.ts';
import type { ManifestApplier } from './apply.ts';
import { renderCluster } from './manifests.ts';
import { RegistryWriter } from './registry-writer.ts';
import type { ControllerSettings } from './settings.ts';
import { CLUSTER_DEFAULTS, type ClusterSpec } from './spec.ts';
import type { DesiredStateStore, TenantRecord, TenantStatus } from './store.ts';
import { deleteTree } from './zookeeper.ts';

export interface ReconcilerOptions {
  /** The home ensemble's session (registry, desired state). */
  client: JuteClient;
  ensembles: EnsembleSessions;
  store: DesiredStateStore;
  settings: ControllerSettings;
  secret: Buffer;
  applier: ManifestApplier;
  /** Names who reconciled in status records (CLI: "cli@host", controller: its replica id). */
  actor: string;
}

export type ConvergeOutcome = 'converged' | 'deleted' | 'absent';

export function effectiveLimits(settings: ControllerSettings, record: TenantRecord): Limits {
  return layeredLimits(settings.defaultLimits, record.limits);
}

export class Reconciler {
  readonly options: ReconcilerOptions;
  readonly registry: RegistryWriter;

  constructor(options: ReconcilerOptions) {
    this.options = options;
    this.registry = new RegistryWriter(options.client, options.settings.registry.path, options.store.acl);
  }

  /** Effective limits: built-in defaults, the controller's defaultLimits, the tenant's overrides. */
  limits(record: TenantRecord): Limits {
    return effectiveLimits(this.options.settings, record);
  }

  async converge(name: string): Promise<ConvergeOutcome> {
    const { store } = this.options;
    const desired = await store.tenant(name);
    if (desired === null) return 'absent';
    const record = desired.value;
    const status = await store.status(name);
    try {
      if (record.deleting) {
        await this.removeTenant(record, status);
        // Only when nobody changed the record meanwhile; otherwise the next pass sees the change.
        if (await store.removeTenant(name, desired.version)) {
          await store.removeStatus(name);
          return 'deleted';
        }
        return 'converged';
      }
      if (!(await store.moving(name))) {
        await this.ensureRoot(record);
        const { maxZnodes, maxBytes } = this.limits(record);
        // The quota in every entry: a proxy's own default limits must not set another one.
        await this.registry.upsert({
          name,
          listeners: [record.listener],
          limits: { ...record.limits, maxZnodes, maxBytes },
          ...(record.ensemble === undefined ? {} : { ensemble: record.ensemble }),
        });
      }
      const listenerPort = (parseHostPort(record.listener) as HostPort).port;
      const { platform } = this.options.settings;
      if (record.cluster !== null) {
        const rendered = renderCluster({ tenant: name, spec: record.cluster, listenerPort, platform });
        await this.options.applier.apply(name, 'retained', rendered.retained);
        await this.options.applier.apply(name, 'cluster', rendered.cluster);
      } else if (status?.appliedCluster) {
        const rendered = renderCluster({ tenant: name, spec: status.appliedCluster, listenerPort, platform });
        await this.options.applier.remove(name, 'cluster', rendered.cluster);
      }
      await store.setStatus(
        name,
        this.status(desired.version, record.cluster, record.cluster !== null || (status?.retainedApplied ?? false)),
      );
      return 'converged';
    } catch (error) {
      await store
        .setStatus(name, {
          ...(status ?? this.status(-1, null, false)),
          reconciledBy: this.options.actor,
          reconciledAt: new Date().toISOString(),
          error: (error as Error).message,
        })
        .catch(() => {});
      throw error;
    }
  }

  private status(generation: number, appliedCluster: ClusterSpec | null, retainedApplied: boolean): TenantStatus {
    return {
      observedGeneration: generation,
      appliedCluster,
      retainedApplied,
      reconciledBy: this.options.actor,
      reconciledAt: new Date().toISOString(),
    };
  }

  /** The tenant root, identity ACL and quota on the record's ensemble (a move passes the target's). */
  async ensureRoot(record: TenantRecord): Promise<void> {
    const { maxZnodes, maxBytes } = this.limits(record);
    const { ensembles } = this.options;
    const name = ensembles.of(record);
    await ensureTenantRoot(await ensembles.session(name), {
      root: defaultChroot(record.name),
      identity: tenantSecrets(this.options.secret, record.name).identity,
      admin: ensembles.ensemble(name).admin,
      quota: { maxZnodes, maxBytes },
    });
  }

  private async removeTenant(record: TenantRecord, status: TenantStatus | null): Promise<void> {
    const { applier, settings, ensembles, store } = this.options;
    const port = (parseHostPort(record.listener) as HostPort).port;
    // Anything rendered has the same object names whatever the spec: render with the last one known.
    const spec = status?.appliedCluster ??
      record.cluster ?? { flinkVersion: '1.15', zone: settings.platform.defaultZone, ...CLUSTER_DEFAULTS };
    const rendered = renderCluster({ tenant: record.name, spec, listenerPort: port, platform: settings.platform });
    await applier.remove(record.name, 'cluster', rendered.cluster);
    await applier.remove(record.name, 'retained', rendered.retained);
    // Proxies close the tenant's connections when its entry goes; only then its data.
    await this.registry.remove(record.name);
    const root = defaultChroot(record.name);
    const client = await ensembles.session(ensembles.of(record));
    await applyQuota(client, root, { maxZnodes: 0, maxBytes: 0 });
    await deleteTree(client, root);
    await store.releasePort(port, record.name);
  }
}
