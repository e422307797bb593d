/**
 * What the mover has copied, node by node: the source's zxids and versions as of the read whose
 * content went to the target. A later pass compares a node's current Stat with its record and
 * reads again only what moved on. Ephemeral nodes have no record (they are never copied); the
 * parent's `children` still names them, so a pass notices when one is replaced.
 */
import { childPath } from './znode.ts';

export interface NodeRecord {
  czxid: bigint;
  mzxid: bigint;
  pzxid: bigint;
  cversion: number;
  aversion: number;
  /** The source's child names (ephemeral ones included) as of `pzxid`. */
  children: string[];
}

export class TreeLedger {
  readonly root: string;
  readonly nodes = new Map<string, NodeRecord>();

  constructor(root: string) {
    this.root = root;
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Forgets `path` and every recorded node under it. */
  dropSubtree(path: string): void {
    const record = this.nodes.get(path);
    if (record === undefined) return;
    this.nodes.delete(path);
    for (const name of record.children) this.dropSubtree(childPath(path, name));
  }
}
