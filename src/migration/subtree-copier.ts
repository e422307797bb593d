/**
 * Copies source subtrees onto the target, converging whatever the target already holds: a node
 * missing there is created with its kind, data and ACL; one that exists gets setData/setACL where
 * they differ; target children the source does not have (or has only as ephemerals) are deleted.
 * Ephemeral nodes are never copied: their sessions are recreated on the target after the move.
 * Nodes are copied as soon as their parent is in place, many at once (TaskPool), and each copied
 * node is recorded in the TreeLedger for the next, incremental pass.
 */
import type { JuteClient } from 'jute-ts/client';
import type { TaskPool } from './task-pool.ts';
import type { TreeLedger } from './tree-ledger.ts';
import {
  childPath,
  createZnode,
  deleteSubtree,
  readZnode,
  sameAcl,
  sameData,
  setZnodeAcl,
  setZnodeData,
  type ZnodeContent,
} from './znode.ts';

/** What a copy or sync pass did to the target. */
export interface CopyCounts {
  /** Source znodes read (ephemeral ones included). */
  read: number;
  created: number;
  dataSet: number;
  aclSet: number;
  deleted: number;
  ephemeralsSkipped: number;
  /** Data bytes written by creates and setData. */
  bytesWritten: number;
  /** Multi requests sent, and parents they raised, to carry cversions over (see cversion.ts). */
  cversionMultis: number;
  cversionRaised: number;
}

export const emptyCounts = (): CopyCounts => ({
  read: 0,
  created: 0,
  dataSet: 0,
  aclSet: 0,
  deleted: 0,
  ephemeralsSkipped: 0,
  bytesWritten: 0,
  cversionMultis: 0,
  cversionRaised: 0,
});

export class SubtreeCopier {
  private readonly source: JuteClient;
  private readonly target: JuteClient;
  private readonly ledger: TreeLedger;
  private readonly pool: TaskPool;
  readonly counts: CopyCounts;
  /** Copied nodes whose source cversion is above 0: the cversion fix-up looks at these. */
  readonly cversionCandidates = new Set<string>();

  private readonly onProgress: ((counts: CopyCounts) => void) | undefined;

  constructor(
    source: JuteClient,
    target: JuteClient,
    ledger: TreeLedger,
    pool: TaskPool,
    counts: CopyCounts,
    onProgress?: (counts: CopyCounts) => void,
  ) {
    this.onProgress = onProgress;
    this.source = source;
    this.target = target;
    this.ledger = ledger;
    this.pool = pool;
    this.counts = counts;
  }

  /**
   * Queues the copy of the subtree at `path`. `targetMayHave`: the target may hold a node there
   * (false right after its parent was created, which saves reading the target).
   */
  copy(path: string, targetMayHave: boolean): void {
    this.pool.add(() => this.copyNode(path, targetMayHave));
  }

  /** Queues the deletion of the target's subtree at `path` and forgets what was recorded of it. */
  remove(path: string): void {
    this.ledger.dropSubtree(path);
    this.pool.add(async () => void (this.counts.deleted += await deleteSubtree(this.target, path)));
  }

  /** Queues: the target's subtree at `path` deleted, then the source's copied afresh (a node recreated). */
  replace(path: string): void {
    this.ledger.dropSubtree(path);
    this.pool.add(async () => {
      this.counts.deleted += await deleteSubtree(this.target, path);
      this.copy(path, false);
    });
  }

  /** Queues a task of a pass on the same pool (and so the same limit of requests in flight). */
  add(task: () => Promise<void>): void {
    this.pool.add(task);
  }

  private async copyNode(path: string, targetMayHave: boolean): Promise<void> {
    const node = await readZnode(this.source, path);
    this.counts.read++;
    if (node === undefined || node.kind === 'ephemeral') {
      if (node !== undefined) this.counts.ephemeralsSkipped++;
      this.ledger.dropSubtree(path);
      if (targetMayHave) this.counts.deleted += await deleteSubtree(this.target, path);
      return;
    }
    const onTarget = targetMayHave ? await readZnode(this.target, path) : undefined;
    let targetChildren: string[] = [];
    if (onTarget === undefined || onTarget.kind !== node.kind) {
      if (onTarget !== undefined) this.counts.deleted += await deleteSubtree(this.target, path);
      if (await createZnode(this.target, node)) this.created(node);
      else targetChildren = await this.converge(node, await readZnode(this.target, path));
    } else {
      targetChildren = await this.converge(node, onTarget);
    }
    this.ledger.nodes.set(path, {
      czxid: node.czxid,
      mzxid: node.mzxid,
      pzxid: node.pzxid,
      cversion: node.cversion,
      aversion: node.aversion,
      children: node.children,
    });
    if (node.cversion > 0) this.cversionCandidates.add(path);
    const onSource = new Set(node.children);
    for (const name of targetChildren) if (!onSource.has(name)) this.remove(childPath(path, name));
    const present = new Set(targetChildren);
    for (const name of node.children) this.copy(childPath(path, name), present.has(name));
    this.onProgress?.(this.counts);
  }

  private created(node: ZnodeContent): void {
    this.counts.created++;
    this.counts.bytesWritten += node.data?.length ?? 0;
  }

  /** Makes an existing target node's data and ACL the source's; returns its children. */
  private async converge(node: ZnodeContent, onTarget: ZnodeContent | undefined): Promise<string[]> {
    if (onTarget === undefined) throw new Error(`${node.path} vanished from the target while being copied`);
    const writes: Promise<void>[] = [];
    if (!sameData(node.data, onTarget.data)) {
      writes.push(setZnodeData(this.target, node.path, node.data));
      this.counts.dataSet++;
      this.counts.bytesWritten += node.data?.length ?? 0;
    }
    if (!sameAcl(node.acl, onTarget.acl)) {
      writes.push(setZnodeAcl(this.target, node.path, node.acl));
      this.counts.aclSet++;
    }
    await Promise.all(writes);
    return onTarget.children;
  }
}
