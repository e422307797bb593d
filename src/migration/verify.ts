/**
 * The full comparison a move ends with: every non-ephemeral source node under `root` exists on
 * the target with the same kind, data and ACL, the target's cversion is not below the source's,
 * and the target has nothing else (ephemeral source nodes included: those are never copied).
 * It reads both trees whole, independently of any ledger, so it also catches a pass's mistakes.
 */
import type { JuteClient } from 'jute-ts/client';
import { DEFAULT_CONCURRENCY } from './copy-tree.ts';
import { TaskPool } from './task-pool.ts';
import { childPath, readZnode, sameAcl, sameData } from './znode.ts';

export type DifferenceKind = 'missing' | 'extra' | 'kind' | 'data' | 'acl' | 'cversion';

export interface TreeDifference {
  path: string;
  kind: DifferenceKind;
  detail: string;
}

export async function verify(
  source: JuteClient,
  target: JuteClient,
  root: string,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<TreeDifference[]> {
  const differences: TreeDifference[] = [];
  const pool = new TaskPool(concurrency);
  const differ = (path: string, kind: DifferenceKind, detail: string) => void differences.push({ path, kind, detail });
  const compare = async (path: string): Promise<void> => {
    const [onSource, onTarget] = await Promise.all([readZnode(source, path), readZnode(target, path)]);
    if (onSource === undefined || onSource.kind === 'ephemeral') {
      if (onTarget !== undefined) differ(path, 'extra', onSource === undefined ? 'not on the source' : 'ephemeral on the source');
      return;
    }
    if (onTarget === undefined) return differ(path, 'missing', 'not on the target');
    if (onTarget.kind !== onSource.kind) differ(path, 'kind', `${onSource.kind} on the source, ${onTarget.kind} on the target`);
    if (!sameData(onSource.data, onTarget.data))
      differ(path, 'data', `${onSource.data?.length ?? 0} bytes on the source, ${onTarget.data?.length ?? 0} on the target`);
    if (!sameAcl(onSource.acl, onTarget.acl)) differ(path, 'acl', `${JSON.stringify(onSource.acl)} vs ${JSON.stringify(onTarget.acl)}`);
    if (onTarget.cversion < onSource.cversion)
      differ(path, 'cversion', `${onSource.cversion} on the source, ${onTarget.cversion} on the target`);
    const onSourceNames = new Set(onSource.children);
    for (const name of onTarget.children) if (!onSourceNames.has(name)) differ(childPath(path, name), 'extra', 'not on the source');
    for (const name of onSource.children) pool.add(() => compare(childPath(path, name)));
  };
  pool.add(() => compare(root));
  await pool.drain();
  return differences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
