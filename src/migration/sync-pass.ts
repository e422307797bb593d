/**
 * The catch-up passes of a move, while the tenant's clients keep writing to the source: each
 * pass finds what changed since the ledger was written and applies only that to the target.
 *
 * Finding changes costs one pipelined `exists` per recorded node: a Stat tells everything needed.
 * czxid changed (or the node is gone, or now ephemeral): deleted and created again, so the
 * target's subtree is replaced. mzxid changed: getData + setData. aversion changed: getACL +
 * setACL. pzxid changed: getChildren2, then removed children are deleted on the target and new
 * ones copied with their subtrees. Changed nodes are handled shallowest first, so a subtree that
 * is replaced or deleted is never also patched. The last pass, run while the proxy holds the
 * tenant, finds nothing moving and leaves the target equal to the source (see verify.ts).
 */
import { OpCode, type RecordValue } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import { DEFAULT_CONCURRENCY, type CopyOptions, type PassResult } from './copy-tree.ts';
import { raiseCversions } from './cversion.ts';
import { emptyCounts, SubtreeCopier } from './subtree-copier.ts';
import { mapPipelined, TaskPool } from './task-pool.ts';
import type { NodeRecord, TreeLedger } from './tree-ledger.ts';
import { childPath, depthOf, kindOf, setZnodeAcl, setZnodeData, type Stat, statOf } from './znode.ts';

/** exists requests in flight at once: tiny replies, so many more than the copy's nodes. */
const EXISTS_CONCURRENCY = 1024;

export interface SyncResult extends PassResult {
  /** Recorded nodes whose Stat had moved on since the previous pass. */
  changed: number;
  /** Nodes recorded after the pass. */
  nodes: number;
}

interface Change {
  path: string;
  record: NodeRecord;
  stat: Stat | undefined;
}

export async function syncPass(source: JuteClient, target: JuteClient, ledger: TreeLedger, options: CopyOptions = {}): Promise<SyncResult> {
  const started = performance.now();
  const counts = emptyCounts();
  const changes = await findChanges(source, ledger);
  const cversionChanged = new Set<string>();
  const byDepth = Map.groupBy(changes, (change) => depthOf(change.path));
  const candidates = new Set<string>();
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const pool = new TaskPool(options.concurrency ?? DEFAULT_CONCURRENCY, options.signal);
    const copier = new SubtreeCopier(source, target, ledger, pool, counts, options.onProgress);
    for (const change of byDepth.get(depth)!) {
      // An ancestor handled at a shallower depth replaced or deleted this node's subtree already.
      if (ledger.nodes.get(change.path) !== change.record) continue;
      copier.add(() => applyChange(copier, source, target, ledger, change, cversionChanged));
    }
    await pool.drain();
    for (const path of copier.cversionCandidates) candidates.add(path);
  }
  for (const path of cversionChanged) candidates.add(path);
  await raiseCversions(target, ledger, candidates, counts);
  return { counts, changed: changes.length, nodes: ledger.size, durationMs: performance.now() - started };
}

async function findChanges(source: JuteClient, ledger: TreeLedger): Promise<Change[]> {
  const recorded = [...ledger.nodes];
  const stats = await mapPipelined(recorded, EXISTS_CONCURRENCY, ([path]) => statOf(source, path));
  const changes: Change[] = [];
  recorded.forEach(([path, record], index) => {
    const stat = stats[index];
    const same =
      stat !== undefined &&
      stat.czxid === record.czxid &&
      stat.mzxid === record.mzxid &&
      stat.pzxid === record.pzxid &&
      stat.aversion === record.aversion &&
      stat.cversion === record.cversion;
    if (!same) changes.push({ path, record, stat });
  });
  return changes;
}

async function applyChange(
  copier: SubtreeCopier,
  source: JuteClient,
  target: JuteClient,
  ledger: TreeLedger,
  { path, record, stat }: Change,
  cversionChanged: Set<string>,
): Promise<void> {
  if (stat === undefined || stat.czxid !== record.czxid || kindOf(stat.ephemeralOwner) === 'ephemeral') {
    copier.replace(path);
    return;
  }
  const steps: Promise<void>[] = [];
  if (stat.mzxid !== record.mzxid) steps.push(refreshData(copier, source, target, path, record));
  if (stat.aversion !== record.aversion) steps.push(refreshAcl(copier, source, target, path, record));
  if (stat.pzxid !== record.pzxid || stat.cversion !== record.cversion) {
    steps.push(refreshChildren(copier, source, ledger, path, record));
    cversionChanged.add(path);
  }
  await Promise.all(steps);
}

/**
 * Each refresh records the Stat of its own read, never the newer one exists saw, and goes no
 * further when that read shows another node under the same name: the replace of the next pass
 * takes care of that one.
 */
async function refreshData(copier: SubtreeCopier, source: JuteClient, target: JuteClient, path: string, record: NodeRecord): Promise<void> {
  const reply = await source.request(OpCode.getData, { path, watch: false });
  if (reply.err !== 0) return;
  const stat = reply.body!.stat as Stat;
  if (stat.czxid !== record.czxid) return;
  const data = reply.body!.data as Buffer | null;
  await setZnodeData(target, path, data);
  copier.counts.dataSet++;
  copier.counts.bytesWritten += data?.length ?? 0;
  record.mzxid = stat.mzxid;
}

async function refreshAcl(copier: SubtreeCopier, source: JuteClient, target: JuteClient, path: string, record: NodeRecord): Promise<void> {
  const reply = await source.request(OpCode.getACL, { path });
  if (reply.err !== 0) return;
  const stat = reply.body!.stat as Stat;
  if (stat.czxid !== record.czxid) return;
  await setZnodeAcl(target, path, reply.body!.acl as RecordValue[]);
  copier.counts.aclSet++;
  record.aversion = stat.aversion;
}

async function refreshChildren(
  copier: SubtreeCopier,
  source: JuteClient,
  ledger: TreeLedger,
  path: string,
  record: NodeRecord,
): Promise<void> {
  const reply = await source.request(OpCode.getChildren2, { path, watch: false });
  if (reply.err !== 0) return;
  const stat = reply.body!.stat as Stat;
  if (stat.czxid !== record.czxid) return;
  const children = reply.body!.children as string[];
  const now = new Set(children);
  for (const name of record.children) {
    const child = childPath(path, name);
    if (!now.has(name) && ledger.nodes.has(child)) copier.remove(child);
  }
  // Children without a record are new, or were ephemeral when last seen: copy reads what they are now.
  for (const name of children) if (!ledger.nodes.has(childPath(path, name))) copier.copy(childPath(path, name), false);
  record.children = children;
  record.pzxid = stat.pzxid;
  record.cversion = stat.cversion;
}
