/**
 * Hard quotas that ZooKeeper itself enforces (zookeeper.enforceQuota=true, 3.7+; never written to
 * an older ensemble, which they would crash): a tenant that
 * creates more znodes or bytes than allowed under its root gets QUOTAEXCEEDED (-125) from the
 * ensemble, unchanged through the proxy, whichever replica or client it uses.
 *
 * ZooKeeper keeps a quota in /zookeeper/quota/<path>/zookeeper_limits (only the *HardLimit keys
 * are enforced) and the running totals in .../zookeeper_stats, which must exist and start from the
 * subtree's real totals (the quota'd node counts itself), as ZooKeeper's own setquota does.
 */
import { ErrorCode, OpCode, Perms, type RecordValue } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';

const QUOTA_ROOT = '/zookeeper/quota';
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

export interface Quota {
  /** 0: no limit on the number of znodes. */
  maxZnodes: number;
  /** 0: no limit on the bytes of data. */
  maxBytes: number;
}

function quotaLimitsText(quota: Quota): string {
  return `count=-1,bytes=-1,countHardLimit=${quota.maxZnodes || -1},byteHardLimit=${quota.maxBytes || -1}`;
}

/**
 * Whether the ensemble has hard quotas (3.7+). ZooKeeper 3.6 reads zookeeper_limits as
 * `count=,bytes=` only: the *HardLimit keys make its StatsTrack throw while committing the next
 * create under the quota'd path, which stops the SyncThread and with it the server, on every
 * member alike. whoAmI came in the same release (3.7.0); a 3.6 server answers it UNIMPLEMENTED
 * and carries on, so asking is harmless.
 */
async function ensembleHasHardQuotas(client: JuteClient): Promise<boolean> {
  return (await client.request(OpCode.whoAmI)).err !== ErrorCode.UNIMPLEMENTED;
}

/**
 * Sets (or changes, or removes when both are 0) the hard quota on `root`. `client` must be
 * allowed to write /zookeeper/quota. 'unsupported': the ensemble is older than 3.7 and nothing
 * was written (see ensembleHasHardQuotas); the tenant's writes are then not capped by ZooKeeper.
 */
export async function applyQuota(
  client: JuteClient,
  root: string,
  quota: Quota,
): Promise<'set' | 'unchanged' | 'removed' | 'none' | 'unsupported'> {
  const base = QUOTA_ROOT + root;
  const limitsPath = `${base}/zookeeper_limits`;
  const statsPath = `${base}/zookeeper_stats`;
  const current = await client.request(OpCode.getData, { path: limitsPath, watch: false });
  if (quota.maxZnodes === 0 && quota.maxBytes === 0) {
    if (current.err === ErrorCode.NONODE) return 'none';
    for (const path of [statsPath, limitsPath, base]) await client.request(OpCode.delete, { path, version: -1 });
    return 'removed';
  }
  if (!(await ensembleHasHardQuotas(client))) return 'unsupported';
  const text = quotaLimitsText(quota);
  if (current.err === ErrorCode.OK) {
    if ((current.body!.data as Buffer | null)?.toString() === text) return 'unchanged';
    await client.call(OpCode.setData, { path: limitsPath, data: Buffer.from(text), version: -1 });
    return 'set';
  }
  // Parents of the quota node, then totals taken from the subtree as it is now, then the limits.
  const parts = base.split('/').slice(1);
  for (let i = 2; i <= parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    const reply = await client.request(OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 });
    if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new Error(`create ${path}: error ${reply.err}`);
  }
  const totals = await subtreeTotals(client, root);
  await createOrSet(client, statsPath, `count=${totals.count},bytes=${totals.bytes}`);
  await createOrSet(client, limitsPath, text);
  return 'set';
}

async function createOrSet(client: JuteClient, path: string, text: string): Promise<void> {
  const created = await client.request(OpCode.create, { path, data: Buffer.from(text), acl: OPEN_ACL, flags: 0 });
  if (created.err === ErrorCode.NODEEXISTS) await client.call(OpCode.setData, { path, data: Buffer.from(text), version: -1 });
  else if (created.err !== ErrorCode.OK) throw new Error(`create ${path}: error ${created.err}`);
}

/** Znodes (the root included) and data bytes under `root`, walked breadth-first. */
async function subtreeTotals(client: JuteClient, root: string): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  const queue = [root];
  while (queue.length > 0) {
    const path = queue.shift()!;
    const reply = await client.request(OpCode.getChildren2, { path, watch: false });
    if (reply.err !== ErrorCode.OK) continue; // deleted meanwhile
    count++;
    bytes += (reply.body!.stat as RecordValue).dataLength as number;
    for (const child of reply.body!.children as string[]) queue.push(path === '/' ? `/${child}` : `${path}/${child}`);
  }
  return { count, bytes };
}
