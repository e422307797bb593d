/**
 * Hard quotas on ensembles of different ZooKeeper releases. A 3.6 server cannot parse the
 * *HardLimit keys of zookeeper_limits and dies on the next create under the tenant root (its
 * SyncThread throws in StatsTrack); the proxy must leave the quota off there and serve the
 * tenant, while a 3.7 server gets the quota and enforces it.
 */
import { CreateMode, ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { mavenClasspath } from './support/maven.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const MAX_ZNODES = 4;

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree | undefined;
let client: JuteClient | undefined;

afterEach(async () => {
  client?.destroy();
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  [client, tree, proxy, ensemble] = [undefined, undefined, undefined, undefined];
});

/** A one-member ensemble of `set` behind a proxy whose tenant alpha may have MAX_ZNODES znodes. */
async function start(set: string): Promise<{ createNodes: (count: number) => Promise<number[]> }> {
  ensemble = await LocalEnsemble.start({ size: 1, serverClasspath: mavenClasspath(set) });
  proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha', limits: { maxZnodes: MAX_ZNODES } }]);
  tree = await ServerTree.open(ensemble);
  client = await JuteClient.connect({ port: proxy.port('alpha'), sessionTimeoutMs: 10_000 });
  const connected = client;
  return {
    createNodes: async (count) => {
      const errors: number[] = [];
      for (let i = 0; i < count; i++) {
        errors.push(
          (await connected.request(OpCode.create, { path: `/n${i}`, data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT })).err,
        );
      }
      return errors;
    },
  };
}

describe('hard quotas by ZooKeeper server release', () => {
  it('ZooKeeper 3.6.4: no hard-limit quota is written, the tenant is served beyond maxZnodes and the server stays up', async () => {
    const { createNodes } = await start('zookeeper-3.6.4');
    expect(await createNodes(MAX_ZNODES + 2)).toEqual(Array(MAX_ZNODES + 2).fill(ErrorCode.OK));
    expect(await tree!.exists('/zookeeper/quota/tenants/alpha/zookeeper_limits')).toBe(false);
    expect(ensemble!.member(1).state).toBe('running');
    expect(await ensemble!.fourLetterWord(1, 'ruok')).toBe('imok');
    expect((await tree!.children('/tenants/alpha'))!.length).toBe(MAX_ZNODES + 2);
  }, 90_000);

  it('ZooKeeper 3.7.2: the hard quota is written and the ensemble enforces it (QUOTAEXCEEDED)', async () => {
    const { createNodes } = await start('zookeeper-3.7.2');
    // The tenant root counts itself: MAX_ZNODES - 1 children fit.
    const errors = await createNodes(MAX_ZNODES + 1);
    expect(errors.slice(0, MAX_ZNODES - 1)).toEqual(Array(MAX_ZNODES - 1).fill(ErrorCode.OK));
    expect(errors.slice(MAX_ZNODES - 1)).toEqual([ErrorCode.QUOTAEXCEEDED, ErrorCode.QUOTAEXCEEDED]);
    expect((await tree!.data('/zookeeper/quota/tenants/alpha/zookeeper_limits'))?.toString()).toBe(
      `count=-1,bytes=-1,countHardLimit=${MAX_ZNODES},byteHardLimit=${536_870_912}`,
    );
  }, 90_000);
});
