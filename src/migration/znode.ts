/**
 * One znode as the mover sees it: whether it is ephemeral, its content, and the reads, creates
 * and deletes that move it. Every call expects an admin session: tenant nodes refuse anyone else.
 */
import { CreateMode, ErrorCode, OpCode, Perms, type RecordValue } from 'jute-ts';
import { type JuteClient, KeeperError } from 'jute-ts/client';

/**
 * Persistent or ephemeral: all a client can tell. ZooKeeper reports the ephemeralOwner of
 * containers and TTL nodes as 0 (DataTree.getClientEphemeralOwner), so those are copied as
 * persistent nodes (see docs/ensembles.md, "Move: copy and sync").
 */
export type ZnodeKind = 'persistent' | 'ephemeral';

export const kindOf = (ephemeralOwner: bigint): ZnodeKind => (ephemeralOwner === 0n ? 'persistent' : 'ephemeral');

export type Stat = {
  czxid: bigint;
  mzxid: bigint;
  pzxid: bigint;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  numChildren: number;
};

/** A znode's content, each part with the Stat fields of the read that returned it. */
export interface ZnodeContent {
  path: string;
  kind: ZnodeKind;
  czxid: bigint;
  data: Buffer | null;
  mzxid: bigint;
  acl: RecordValue[];
  aversion: number;
  children: string[];
  pzxid: bigint;
  cversion: number;
}

export const childPath = (parent: string, name: string) => (parent === '/' ? `/${name}` : `${parent}/${name}`);
export const parentPath = (path: string) => path.slice(0, Math.max(1, path.lastIndexOf('/')));
export const depthOf = (path: string) => (path === '/' ? 0 : path.split('/').length - 1);

function check(reply: { err: number }, operation: string, path: string, allowed: readonly number[] = []): void {
  if (reply.err !== ErrorCode.OK && !allowed.includes(reply.err)) throw new KeeperError(reply.err, operation, { path });
}

/** The Stat of `path`, undefined when it does not exist. */
export async function statOf(client: JuteClient, path: string): Promise<Stat | undefined> {
  const reply = await client.request(OpCode.exists, { path, watch: false });
  check(reply, 'exists', path, [ErrorCode.NONODE]);
  return reply.err === ErrorCode.NONODE ? undefined : (reply.body!.stat as Stat);
}

/**
 * Data, ACL and children of `path`, undefined when it does not exist. The three reads go out
 * together; should the node be deleted and created again between them, they are read again, so
 * the parts always belong to one and the same node.
 */
export async function readZnode(client: JuteClient, path: string): Promise<ZnodeContent | undefined> {
  for (;;) {
    const [data, acl, children] = await Promise.all([
      client.request(OpCode.getData, { path, watch: false }),
      client.request(OpCode.getACL, { path }),
      client.request(OpCode.getChildren2, { path, watch: false }),
    ]);
    check(data, 'getData', path, [ErrorCode.NONODE]);
    check(acl, 'getACL', path, [ErrorCode.NONODE]);
    check(children, 'getChildren2', path, [ErrorCode.NONODE]);
    if (data.err === ErrorCode.NONODE && acl.err === ErrorCode.NONODE && children.err === ErrorCode.NONODE) return undefined;
    if (data.err !== ErrorCode.OK || acl.err !== ErrorCode.OK || children.err !== ErrorCode.OK) continue;
    const dataStat = data.body!.stat as Stat;
    const aclStat = acl.body!.stat as Stat;
    const childStat = children.body!.stat as Stat;
    if (dataStat.czxid !== aclStat.czxid || dataStat.czxid !== childStat.czxid) continue;
    return {
      path,
      kind: kindOf(dataStat.ephemeralOwner),
      czxid: dataStat.czxid,
      data: data.body!.data as Buffer | null,
      mzxid: dataStat.mzxid,
      acl: acl.body!.acl as RecordValue[],
      aversion: aclStat.aversion,
      children: children.body!.children as string[],
      pzxid: childStat.pzxid,
      cversion: childStat.cversion,
    };
  }
}

/** Creates `node` (not its children), persistent, with its data and ACL; false when it exists already. */
export async function createZnode(client: JuteClient, node: ZnodeContent): Promise<boolean> {
  const reply = await client.request(OpCode.create, { path: node.path, data: node.data, acl: node.acl, flags: CreateMode.PERSISTENT });
  check(reply, 'create', node.path, [ErrorCode.NODEEXISTS]);
  return reply.err === ErrorCode.OK;
}

export async function setZnodeData(client: JuteClient, path: string, data: Buffer | null): Promise<void> {
  check(await client.request(OpCode.setData, { path, data, version: -1 }), 'setData', path);
}

export async function setZnodeAcl(client: JuteClient, path: string, acl: RecordValue[]): Promise<void> {
  check(await client.request(OpCode.setACL, { path, acl, version: -1 }), 'setACL', path);
}

/**
 * Deletes `path` and everything under it; returns how many znodes went. The subtree is listed
 * level by level, then every delete is sent at once, deepest first: one session's requests are
 * applied in the order sent, so each node is childless by the time its delete is applied.
 */
export async function deleteSubtree(client: JuteClient, path: string): Promise<number> {
  const levels: string[][] = [[path]];
  for (let level = levels[0]!; level.length > 0; ) {
    const listed = await Promise.all(level.map((node) => client.request(OpCode.getChildren, { path: node, watch: false })));
    const next: string[] = [];
    listed.forEach((reply, index) => {
      check(reply, 'getChildren', level[index]!, [ErrorCode.NONODE]);
      if (reply.err === ErrorCode.OK) for (const name of reply.body!.children as string[]) next.push(childPath(level[index]!, name));
    });
    if (next.length > 0) levels.push(next);
    level = next;
  }
  const deletes = levels.reverse().flatMap((level) => level.map((node) => client.request(OpCode.delete, { path: node, version: -1 })));
  let deleted = 0;
  for (const reply of await Promise.all(deletes)) {
    check(reply, 'delete', path, [ErrorCode.NONODE]);
    if (reply.err === ErrorCode.OK) deleted++;
  }
  return deleted;
}

export function sameData(a: Buffer | null, b: Buffer | null): boolean {
  return (a?.length ?? 0) === (b?.length ?? 0) && (a === null || b === null || a.equals(b));
}

export function sameAcl(a: readonly RecordValue[], b: readonly RecordValue[]): boolean {
  const key = (entry: RecordValue) => {
    const id = entry.id as { scheme: string; id: string };
    return `${entry.perms}:${id.scheme}:${id.id}`;
  };
  return a.length === b.length && a.every((entry, index) => key(entry) === key(b[index]!));
}

/** The ACL of the scratch children that raise a parent's cversion (they live for one multi). */
export const SCRATCH_ACL: RecordValue[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
