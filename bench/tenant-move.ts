/**
 * The mover's copy and sync passes (src/migration/) between two local 1-node ensembles, at 1,000
 * and 10,000 znodes: the first copy, a pass with nothing changed, and the final pass of a
 * cut-over (after a burst of tenant writes: 1% of the nodes set, 50 created, 50 deleted, and a
 * queue whose cversion moved, so the fix-up runs), plus the full verify(). Median of --runs each.
 * Figures are printed, not asserted (docs/ensembles.md, "Move: copy and sync").
 *
 *   node bench/tenant-move.ts [--runs 3] [--sizes 1000,10000]
 */
import { parseArgs } from 'node:util';
import { CreateMode, OpCode } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { copyTree } from '../src/migration/copy-tree.ts';
import { syncPass } from '../src/migration/sync-pass.ts';
import { verify } from '../src/migration/verify.ts';
import { deleteSubtree } from '../src/migration/znode.ts';
import { adminSession, createParents, createWideTree, WORLD_ACL } from '../test/support/tenant-tree.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, sizes: { type: 'string', default: '1000,10000' } } });
const runs = Number(values.runs);
const sizes = values.sizes.split(',').map(Number);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** What a held tenant wrote just before the hold: the final pass has this much to carry over. */
async function writeBurst(client: JuteClient, paths: string[], queue: string): Promise<void> {
  const leaves = paths.filter((path) => path.split('/').length > 4);
  const sets = leaves.slice(0, Math.ceil(paths.length / 100));
  const deletes = leaves.slice(-50);
  await Promise.all([
    ...sets.map((path) => client.call(OpCode.setData, { path, data: Buffer.from('changed'), version: -1 })),
    ...deletes.map((path) => client.call(OpCode.delete, { path, version: -1 })),
    ...Array.from({ length: 50 }, (_, i) =>
      client.call(OpCode.create, { path: `${paths[0]}/burst-${i}`, data: Buffer.from('new'), acl: WORLD_ACL, flags: 0 }),
    ),
  ]);
  for (let i = 0; i < 20; i++) {
    const made = await client.call(OpCode.create, {
      path: `${queue}/item-`,
      data: null,
      acl: WORLD_ACL,
      flags: CreateMode.PERSISTENT_SEQUENTIAL,
    });
    await client.call(OpCode.delete, { path: made.body!.path as string, version: -1 });
  }
}

const [sourceEnsemble, targetEnsemble] = await Promise.all([
  LocalEnsemble.start({ size: 1, jvmHeapMb: 512 }),
  LocalEnsemble.start({ size: 1, jvmHeapMb: 512 }),
]);
const [source, target] = await Promise.all([adminSession(sourceEnsemble), adminSession(targetEnsemble)]);
try {
  console.log('| znodes | concurrency | copy ms | idle pass ms | final pass ms (changed nodes) | verify ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  const cases = [...sizes.map((size) => ({ size, concurrency: 256 })), { size: sizes[0]!, concurrency: 1 }];
  for (const { size, concurrency } of cases) {
    const figures = { copy: [] as number[], idle: [] as number[], final: [] as number[], changed: [] as number[], verify: [] as number[] };
    for (let run = 0; run < runs; run++) {
      const root = `/tenants/bench-move-${size}-${concurrency}-${run}`;
      await createParents(source, root);
      const paths = await createWideTree(source, root, size - 2);
      const queue = `${root}/queue`;
      await source.call(OpCode.create, { path: queue, data: null, acl: WORLD_ACL, flags: 0 });
      const copied = await copyTree(source, target, root, { concurrency });
      figures.copy.push(copied.durationMs);
      figures.idle.push((await syncPass(source, target, copied.ledger, { concurrency })).durationMs);
      await writeBurst(source, paths, queue);
      const final = await syncPass(source, target, copied.ledger, { concurrency });
      figures.final.push(final.durationMs);
      figures.changed.push(final.changed);
      const started = performance.now();
      const differences = await verify(source, target, root);
      figures.verify.push(performance.now() - started);
      if (differences.length > 0) throw new Error(`${root}: ${differences.length} differences, first ${JSON.stringify(differences[0])}`);
      await Promise.all([deleteSubtree(source, root), deleteSubtree(target, root)]);
    }
    const ms = (xs: number[]) => median(xs).toFixed(0);
    console.log(
      `| ${size} | ${concurrency} | ${ms(figures.copy)} | ${ms(figures.idle)} | ${ms(figures.final)} (${median(figures.changed)}) | ${ms(figures.verify)} |`,
    );
  }
} finally {
  await Promise.all([source.close(), target.close()]);
  await Promise.all([sourceEnsemble.close(), targetEnsemble.close()]);
}
