/** Wires the controller's parts around one ZooKeeper session. */
import { hostname } from 'node:os';
import type { JuteClient } from 'jute-ts/client';
import { platformAcl } from '../ensemble-admin/root-keeper.ts';
import { createApplier } from './apply.ts';
import { ControllerOperations } from './operations.ts';
import { Reconciler } from './reconcile.ts';
import { RegistryWriter } from './registry-writer.ts';
import { homeEnsemble, settingsAdmin, settingsSecret, type ControllerSettings } from './settings.ts';
import { DesiredStateStore } from './store.ts';
import { connectEnsemble } from './zookeeper.ts';

export interface ControllerContext {
  client: JuteClient;
  store: DesiredStateStore;
  registry: RegistryWriter;
  reconciler: Reconciler;
  operations: ControllerOperations;
}

/**
 * `convergeAfterWrite`: true for the CLI (a command converges its tenant before it returns);
 * false for the API served by controller replicas (the leader converges).
 */
export async function openContext(settings: ControllerSettings, actor: string, convergeAfterWrite: boolean): Promise<ControllerContext> {
  const admin = settingsAdmin(settings);
  const secret = settingsSecret(settings);
  const client = await connectEnsemble(homeEnsemble(settings), admin, settings.controller.sessionTimeoutMs);
  try {
    const acl = platformAcl(admin);
    const store = new DesiredStateStore(client, settings.controller.root, acl);
    await store.init();
    const registry = new RegistryWriter(client, settings.registry.path, acl);
    const reconciler = new Reconciler({ client, store, settings, secret, admin, applier: createApplier(settings.apply), actor });
    const afterWrite = convergeAfterWrite ? async (tenant: string) => void (await reconciler.converge(tenant)) : async () => {};
    const operations = new ControllerOperations(store, registry, settings, afterWrite);
    return { client, store, registry, reconciler, operations };
  } catch (error) {
    client.destroy('setup failed');
    throw error;
  }
}

export function cliActor(): string {
  return `cli@${hostname()}`;
}
