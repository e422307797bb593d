/**
 * The first pass of a move: the tenant's whole tree, from `root` down, onto the target ensemble.
 * Idempotent: run again over a partial or stale copy (a killed mover), it converges the target to
 * the source and rebuilds the ledger the sync passes need. The quota znodes under
 * /zookeeper/quota are not part of the tree (the controller writes quotas on each ensemble).
 */
import { ErrorCode, OpCode, type RecordValue } from 'jute-ts';
import { type JuteClient, KeeperError } from 'jute-ts/client';
import { raiseCversions } from './cversion.ts';
import { type CopyCounts, emptyCounts, SubtreeCopier } from './subtree-copier.ts';
import { TaskPool } from './task-pool.ts';
import { TreeLedger } from './tree-ledger.ts';

/** Nodes being copied at once; each has up to three reads and a write in flight. */
export const DEFAULT_CONCURRENCY = 256;

export interface CopyOptions {
  concurrency?: number;
  /** Stops starting new nodes; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each node copied, with the running counts (for the move's state record). */
  onProgress?: (counts: CopyCounts) => void;
}

export interface PassResult {
  counts: CopyCounts;
  durationMs: number;
}

/**
 * Copies the subtree at `root` from `source` to `target` (both admin sessions) and raises the
 * target's cversions; the returned ledger is what syncPass() starts from.
 */
export async function copyTree(
  source: JuteClient,
  target: JuteClient,
  root: string,
  options: CopyOptions = {},
): Promise<PassResult & { ledger: TreeLedger }> {
  const started = performance.now();
  const ledger = new TreeLedger(root);
  const counts = emptyCounts();
  await ensureAncestors(source, target, root);
  const pool = new TaskPool(options.concurrency ?? DEFAULT_CONCURRENCY, options.signal);
  const copier = new SubtreeCopier(source, target, ledger, pool, counts, options.onProgress);
  copier.copy(root, true);
  await pool.drain();
  await raiseCversions(target, ledger, copier.cversionCandidates, counts);
  return { ledger, counts, durationMs: performance.now() - started };
}

/** The root's parents (/tenants, ...) on the target, with the source's ACLs, where missing. */
async function ensureAncestors(source: JuteClient, target: JuteClient, root: string): Promise<void> {
  const parts = root.split('/').slice(1, -1);
  for (let i = 1; i <= parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    const exists = await target.request(OpCode.exists, { path, watch: false });
    if (exists.err === ErrorCode.OK) continue;
    const acl = await source.call(OpCode.getACL, { path });
    const created = await target.request(OpCode.create, { path, data: null, acl: acl.body!.acl as RecordValue[], flags: 0 });
    if (created.err !== ErrorCode.OK && created.err !== ErrorCode.NODEEXISTS) throw new KeeperError(created.err, 'create', { path });
  }
}
