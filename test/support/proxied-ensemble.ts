import type { JuteClient } from 'jute-ts/client';
import { afterAll, beforeAll } from 'vitest';
import { LocalEnsemble } from '../../src/embedded/ensemble.ts';
import type { ProxyConfigInput } from '../../src/config/config.ts';
import { startInProcessProxy, type InProcessProxy, type TestTenant } from './proxy.ts';
import { ServerTree } from './server-tree.ts';

/** A one-member ensemble, an in-process proxy for the tenants and a server-side view of the tree, for the file. */
export interface ProxiedEnsemble {
  readonly ensemble: LocalEnsemble;
  readonly proxy: InProcessProxy;
  readonly tree: ServerTree;
  /** Clients the tests opened; destroyed after the file. */
  readonly opened: JuteClient[];
}

/**
 * Registers the file's beforeAll/afterAll. Isolation and ACLs are the proxy's job, not the
 * ensemble's: one member keeps such files light.
 */
export function useProxiedEnsemble(tenants: TestTenant[], extra: Partial<ProxyConfigInput> = {}): ProxiedEnsemble {
  let ensemble: LocalEnsemble | undefined;
  let proxy: InProcessProxy | undefined;
  let tree: ServerTree | undefined;
  const opened: JuteClient[] = [];
  beforeAll(async () => {
    ensemble = await LocalEnsemble.start({ size: 1 });
    proxy = await startInProcessProxy(ensemble.connectString(), tenants, extra);
    tree = await ServerTree.open(ensemble);
  }, 120_000);
  afterAll(async () => {
    for (const client of opened) client.destroy();
    await tree?.close().catch(() => {});
    await proxy?.close();
    await ensemble?.close();
  });
  const started = <T>(value: T | undefined): T =>
    value ??
    (() => {
      throw new Error('the proxied ensemble is not started (used outside a test?)');
    })();
  return {
    get ensemble() {
      return started(ensemble);
    },
    get proxy() {
      return started(proxy);
    },
    get tree() {
      return started(tree);
    },
    opened,
  };
}
