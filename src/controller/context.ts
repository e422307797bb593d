/** Wires the controller's parts around its ZooKeeper sessions: the home ensemble's, and one per other ensemble. */
import { hostname } from 'node:os';
import type { JuteClient } from 'jute-ts/client';
import { platformAcl } from '../ensemble-admin/root-keeper.ts';
import { createApplier } from './apply.ts';
import { EnsembleSessions } from './ensemble-sessions.ts';
import { ControllerOperations } from './operations.ts';
import { Reconciler } from './reconcile.ts';
import { RegistryWriter } from './registry-writer.ts';
import { controllerEnsembles, settingsSecret, type ControllerSettings } from './settings.ts';
import { DesiredStateStore } from './store.ts';
import { TenantMover } from './tenant-move.ts';
import { connectEnsemble } from './zookeeper.ts';

export interface ControllerContext {
  /** The home ensemble's session: desired state, status, registry, leader election. */
  client: JuteClient;
  /** Sessions with the ensembles tenants are placed on (the home one is `client`). */
  ensembles: EnsembleSessions;
  store: DesiredStateStore;
  registry: RegistryWriter;
  reconciler: Reconciler;
  operations: ControllerOperations;
  /** Closes every session of the context. */
  close(): Promise<void>;
}

/**
 * `convergeAfterWrite`: true for the CLI (a command converges its tenant before it returns);
 * false for the API served by controller replicas (the leader converges).
 */
export async function openContext(settings: ControllerSettings, actor: string, convergeAfterWrite: boolean): Promise<ControllerContext> {
  const configured = controllerEnsembles(settings);
  const home = configured[0]!;
  const secret = settingsSecret(settings);
  const client = await connectEnsemble(home.members, home.admin, settings.controller.sessionTimeoutMs);
  const ensembles = new EnsembleSessions(configured, client, settings.controller.sessionTimeoutMs);
  const close = async () => {
    await ensembles.close();
    await client.close();
  };
  try {
    const acl = platformAcl(home.admin);
    const store = new DesiredStateStore(client, settings.controller.root, acl);
    await store.init();
    const registry = new RegistryWriter(client, settings.registry.path, acl);
    const reconciler = new Reconciler({ client, ensembles, store, settings, secret, applier: createApplier(settings.apply), actor });
    const afterWrite = convergeAfterWrite ? async (tenant: string) => void (await reconciler.converge(tenant)) : async () => {};
    const mover = new TenantMover({ store, registry, ensembles, settings, reconciler });
    const operations = new ControllerOperations(store, registry, settings, afterWrite, ensembles, mover);
    return { client, ensembles, store, registry, reconciler, operations, close };
  } catch (error) {
    client.destroy('setup failed');
    throw error;
  }
}

export function cliActor(): string {
  return `cli@${hostname()}`;
}
