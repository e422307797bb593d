/**
 * What test/clients/CuratorWorkload.java (LeaderLatch, TreeCache, SharedCount, transactions)
 * must observe through the proxy, and where its nodes must land on the server. Shared by
 * test/real-clients.test.ts (Debian's Curator 5.4) and the Curator matrix (4.2 to 5.9).
 */
import { expect } from 'vitest';
import { pollUntil } from '../../src/embedded/poll.ts';
import type { ServerTree } from './server-tree.ts';

export interface CuratorWorkloadResult {
  leadersAtStart: number;
  firstLeader: string;
  leaderSeenByOther: string;
  participants: string[];
  latchNodes: string[];
  otherTookOver: boolean;
  secondLeader: string | null;
  latchNodesAfterClose: number;
  treeCacheEvents: string[];
  treeCacheChildrenAtEnd: string[];
  freshAccepted: boolean;
  staleAccepted: boolean;
  countExpected: number;
  countSeenBy1: number;
  countSeenBy2: number;
  countStored: number;
  txnResults: string[];
  txnData: string;
  failedTxn: string;
  failedTxnCodes: number[];
  failedTxnCreatedNode: boolean;
  dataAfterFailedTxn: string;
  rootChildren: string[];
  baseChildren: string[];
  seesTenantsNode: boolean;
}

/** `expected` occurs in `actual` in this order (other entries may come in between). */
export function expectInOrder(actual: string[], expected: string[]): void {
  let from = 0;
  for (const wanted of expected) {
    const at = actual.indexOf(wanted, from);
    expect(at, `"${wanted}" after position ${from} in ${JSON.stringify(actual)}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export interface CuratorWorkloadExpectations {
  /**
   * Curator 5 makes LeaderLatch's parent a container node; on an ensemble whose container reaper
   * runs often it is deleted once both latches are gone (then this waits for that). Curator 4 in
   * ZooKeeper 3.4 compatibility mode makes it an ordinary node.
   */
  leaderParentReaped?: boolean;
}

/**
 * Asserts the client-side observations of a CuratorWorkload run at `base` and the nodes it left
 * at `tenantRoot` + `base` on the server.
 */
export async function expectCuratorWorkload(
  result: CuratorWorkloadResult,
  tree: ServerTree,
  tenantRoot: string,
  base: string,
  expectations: CuratorWorkloadExpectations = {},
): Promise<void> {
  const b = escapeRegExp(base);
  // LeaderLatch: exactly one leader, both latches see the same one; closing it hands over.
  expect(result.leadersAtStart).toBe(1);
  expect(['latch-1', 'latch-2']).toContain(result.firstLeader);
  expect(result.leaderSeenByOther).toBe(result.firstLeader);
  expect([...result.participants].sort()).toEqual(['latch-1', 'latch-2']);
  expect(result.latchNodes).toHaveLength(2);
  for (const node of result.latchNodes) expect(node).toMatch(/^_c_[0-9a-f-]{36}-latch-\d{10}$/);
  expect(result.otherTookOver).toBe(true);
  expect(result.secondLeader).not.toBe(result.firstLeader);
  expect(['latch-1', 'latch-2']).toContain(result.secondLeader);
  expect(result.latchNodesAfterClose).toBe(1);

  // TreeCache: adds, updates and deletes made by another session, with client-relative paths.
  expectInOrder(result.treeCacheEvents, [
    `NODE_ADDED ${base}/tree=root`,
    'INITIALIZED',
    `NODE_ADDED ${base}/tree/a=1`,
    `NODE_UPDATED ${base}/tree/a=2`,
    `NODE_ADDED ${base}/tree/a/deep=d`,
    `NODE_ADDED ${base}/tree/b=b`,
    `NODE_REMOVED ${base}/tree/a/deep=d`,
    `NODE_REMOVED ${base}/tree/a=2`,
  ]);
  for (const event of result.treeCacheEvents) expect(event).toMatch(new RegExp(`^(INITIALIZED|NODE_\\w+ ${b}/tree(/[a-z/]+)?=\\w+)$`));
  expect(result.treeCacheChildrenAtEnd).toEqual(['b']);

  // SharedCount: a stale compare-and-set is refused; 2 x 10 racing increments all count.
  expect(result.freshAccepted).toBe(true);
  expect(result.staleAccepted).toBe(false);
  expect(result.countExpected).toBe(21);
  expect(result.countSeenBy1).toBe(21);
  expect(result.countSeenBy2).toBe(21);
  expect(result.countStored).toBe(21);

  // transaction().forOperations(create, setData, check[, sequential create]) and a failing one.
  expect(result.txnResults.slice(0, 3)).toEqual([
    `CREATE ${base}/txn -> ${base}/txn err=0`,
    `SET_DATA ${base}/txn -> null err=0`,
    `CHECK ${base}/txn -> null err=0`,
  ]);
  expect(result.txnResults[3]).toMatch(new RegExp(`^CREATE ${b}/txn-seq- -> ${b}/txn-seq-\\d{10} err=0$`));
  expect(result.txnData).toBe('v1');
  expect(result.failedTxn).toBe('BADVERSION');
  expect(result.failedTxnCodes).toHaveLength(3);
  expect(result.failedTxnCodes[2]).toBe(-103);
  expect(result.failedTxnCreatedNode).toBe(false);
  expect(result.dataAfterFailedTxn).toBe('v1');
  expect(result.seesTenantsNode).toBe(false);

  // Server side: everything is under the tenant root.
  const serverBase = `${tenantRoot}${base}`;
  const seqNode = result.txnResults[3]!.split(' -> ')[1]!.split(' ')[0]!.slice(`${base}/`.length);
  const persistent = ['count', 'tree', 'txn', seqNode];
  if (expectations.leaderParentReaped) {
    const reaped = await pollUntil(async () => ((await tree.exists(`${serverBase}/leader`)) ? undefined : true), {
      deadline: Date.now() + 30_000,
      intervalMs: 200,
      description: `the empty container ${serverBase}/leader to be reaped`,
    });
    expect(reaped).toBe(true);
    expect(await tree.children(serverBase)).toEqual(persistent.sort());
    expect(result.baseChildren.filter((name) => name !== 'leader').sort()).toEqual(persistent.sort());
  } else {
    expect(await tree.children(serverBase)).toEqual([...persistent, 'leader'].sort());
    expect([...result.baseChildren].sort()).toEqual([...persistent, 'leader'].sort());
    expect(await tree.children(`${serverBase}/leader`)).toHaveLength(0); // both latches closed
  }
  expect(result.rootChildren).toContain(base.slice(1).split('/')[0]);
  expect(await tree.children(`${serverBase}/tree`)).toEqual(['b']);
  expect((await tree.data(`${serverBase}/count`))?.readInt32BE(0)).toBe(21);
  expect((await tree.data(`${serverBase}/txn`))?.toString()).toBe('v1');
  expect(await tree.exists(`${serverBase}/txn-never`)).toBe(false);
  expect(await tree.exists(base)).toBe(false);
}
