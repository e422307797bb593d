import { JuteClient } from 'jute-ts/client';
import { startFuzzTarget } from '../test/support/fuzz-target.ts';
const t = await startFuzzTarget();
const port = t.ensemble.members[0]!.clientPort;
for (const [name, p] of [['direct', port], ['proxy', t.alphaPort], ['direct', port], ['proxy', t.alphaPort]] as const) {
  const times: number[] = [];
  for (let i = 0; i < 30; i++) { const s = performance.now(); const c = await JuteClient.connect({ port: p, sessionTimeoutMs: 2000 }); times.push(performance.now() - s); c.destroy(); }
  times.sort((a, b) => a - b);
  console.log(name, 'median', times[15]!.toFixed(1), 'p90', times[27]!.toFixed(1), 'max', times[29]!.toFixed(1));
}
await t.close();
