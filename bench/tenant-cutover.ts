/**
 * A whole `tenant move` (src/controller/tenant-move.ts) between two local 1-node ensembles, with
 * one proxy on both that holds the tenant and writes its replica record, at --sizes znodes: the
 * pause (hold written → switch written) and its parts (replicas holding, final pass, verify),
 * and the copy. A client writes through the proxy during the whole move. Median of --runs.
 * Figures are printed, not asserted (docs/ensembles.md, "Move: cut-over").
 *
 *   node bench/tenant-cutover.ts [--runs 3] [--sizes 1000,10000] [--verify true|false]   (controller.moveVerify)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { JuteClient } from 'jute-ts/client';
import { OpCode } from 'jute-ts';
import { openContext } from '../src/controller/context.ts';
import { loadSettings } from '../src/controller/settings.ts';
import type { MoveRecord } from '../src/controller/tenant-move.ts';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { startInProcessProxy, TEST_SECRET } from '../test/support/proxy.ts';
import { adminSession, createWideTree, WORLD_ACL } from '../test/support/tenant-tree.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '1000,10000' },
    verify: { type: 'string', default: 'true' },
  },
});
const runs = Number(values.runs);
const sizes = values.sizes.split(',').map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const [east, west] = await Promise.all([
  LocalEnsemble.start({ size: 1, jvmHeapMb: 512 }),
  LocalEnsemble.start({ size: 1, jvmHeapMb: 512 }),
]);
const work = mkdtempSync(join(tmpdir(), 'zkproxy-bench-cutover-'));
const configFile = join(work, 'controller.json');
writeFileSync(
  configFile,
  JSON.stringify({
    ensembles: { east: { members: east.connectString() }, west: { members: west.connectString() } },
    security: { ensembleAdmin: 'super:super-secret', secret: TEST_SECRET },
    defaultLimits: { maxZnodes: 100_000 },
    controller: { moveVerify: values.verify === 'true' },
    platform: { domain: 'bench.example.com', proxyAddress: '127.0.0.1:{port}', tenantListenerHost: '127.0.0.1' },
    apply: { mode: 'directory', directory: join(work, 'manifests') },
    log: { level: 'silent' },
  }),
);
const context = await openContext(loadSettings({ config: configFile }), 'bench', true);
const proxy = await startInProcessProxy('', [], {
  ensemble: undefined,
  ensembles: { east: { members: east.connectString() }, west: { members: west.connectString() } },
  registry: { path: '/zkproxy/registry' },
});
const [eastAdmin] = await Promise.all([adminSession(east)]);
try {
  console.log('| znodes | copy ms | sync passes | pause ms | replicas holding ms | final pass ms | verify ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const size of sizes) {
    const records: MoveRecord[] = [];
    const copyMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      const name = `bench-${size}-${run}`;
      const [port] = await reserveFreePorts(1);
      await context.operations.createTenant({ name, listener: `127.0.0.1:${port}`, ensemble: 'east' });
      await createWideTree(eastAdmin, `/tenants/${name}`, size - 1);
      while (proxy.server.listenerAddresses().every((l) => l.tenant !== name)) await new Promise((r) => setTimeout(r, 20));
      const writer = await JuteClient.connect({ host: '127.0.0.1', port: proxy.port(name), sessionTimeoutMs: 10_000 });
      let writing = true;
      const writes = (async () => {
        for (let i = 0; writing && !writer.closed; i++)
          await writer.request(OpCode.create, { path: `/w${i}`, data: Buffer.from('x'), acl: WORLD_ACL, flags: 0 }).catch(() => {});
      })();
      const moved = await context.operations.moveTenant(name, { to: 'west' });
      writing = false;
      writer.destroy('bench done');
      await writes;
      records.push(moved);
      copyMs.push(Date.parse(moved.phases.sync!) - Date.parse(moved.phases.copy!));
    }
    const figure = (pick: (r: MoveRecord) => number | null) =>
      records.some((r) => pick(r) === null) ? '-' : median(records.map((r) => pick(r)!)).toFixed(0);
    console.log(
      `| ${size.toLocaleString('en')} | ${median(copyMs).toFixed(0)} | ${figure((r) => r.passes)} | ${figure((r) => r.pauseMs)} | ${figure((r) => r.holdWaitMs)} | ${figure((r) => r.finalPassMs)} | ${figure((r) => r.verifyMs)} |`,
    );
  }
} finally {
  await proxy.close();
  await context.close();
  eastAdmin.destroy('bench done');
  await Promise.all([east.close(), west.close()]);
  rmSync(work, { recursive: true, force: true });
}
