/**
 * Short chaos cases (issue 8): one run of every scenario on one topology (3-member ensemble,
 * fault relays, two proxy replicas, Flink-like Curator leader contenders for two tenants; see
 * support/chaos/). After each fault every invariant is checked on the whole history recorded so
 * far, against what the ensemble holds. bench/chaos.ts repeats the same scenarios and writes
 * the report; these cases only assert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledJava } from './support/java.ts';
import { compileContenders } from './support/chaos/contenders.ts';
import { formatResult } from './support/chaos/report.ts';
import { runScenario, scenario, type ScenarioResult } from './support/chaos/scenarios.ts';
import { ChaosTopology } from './support/chaos/topology.ts';

/** Elections, JVM restarts and a session timeout of pause on a loaded 2-core machine. */
const SCENARIO_TIMEOUT_MS = 150_000;

let compiled: CompiledJava | undefined;
let topology: ChaosTopology;

beforeAll(async () => {
  compiled = await compileContenders();
  topology = await ChaosTopology.start(compiled);
}, 180_000);

afterAll(async () => {
  await topology?.close();
  compiled?.cleanup();
});

/** Runs the scenario, prints its figures, and asserts the invariants it must keep. */
async function run(id: string): Promise<ScenarioResult> {
  const result = await runScenario(topology, scenario(id)).catch((error: unknown) => {
    console.log(`[chaos] ${id} did not recover:\n${topology.diagnostics()}`);
    throw error;
  });
  console.log(`[chaos] ${formatResult(result)}`);
  if (result.violations.length > 0) console.log(topology.diagnostics());
  expectInvariantsKept(result, scenario(id).sessionsKept);
  return result;
}

/**
 * The invariants every scenario must keep, and every tenant's leader acting again. Sessions may
 * only be lost where the scenario allows it (and then never before their timeout).
 */
function expectInvariantsKept(result: ScenarioResult, sessionsKept: boolean): void {
  expect(result.violations).toEqual([]);
  expect(result.violations.filter((v) => v.invariant === 'acknowledged writes kept')).toHaveLength(0);
  if (sessionsKept) expect(result.sessionLosses).toEqual([]);
  for (const measurement of result.measurements) expect(measurement.acked).toBeGreaterThanOrEqual(5);
}

describe('chaos: ensemble faults', () => {
  it(
    '1. kill -9 of the ensemble leader during load: a new quorum, leaders act again, no session lost, every acknowledged write kept',
    async () => {
      await run('leader-kill');
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '2. a follower SIGSTOPped longer than the session timeout: leaders act again, no session lost before its timeout, every acknowledged write kept',
    async () => {
      await run('follower-pause');
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '5. the whole ensemble restarted (quorum loss): leaders act again, no session lost before its timeout, every acknowledged write kept',
    async () => {
      await run('ensemble-restart');
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('chaos: proxy replicas', () => {
  it(
    "3. kill -9 of the replica carrying the leader's session: sessions resume through the other replica",
    async () => {
      await run('proxy-kill');
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '4. rolling restart of both replicas (SIGTERM drain): each exits 0, no session lost',
    async () => {
      const result = await run('proxy-rolling-restart');
      expect([result.notes.replica0ExitCode, result.notes.replica1ExitCode]).toEqual(['0', '0']);
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('chaos: network faults between the replicas and the ensemble (fault relay)', () => {
  it(
    '6a. added latency: leaders keep acting, no session lost',
    async () => {
      await run('net-latency');
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '6b. connection resets ("loss"): clients resume their sessions, no session lost',
    async () => {
      const result = await run('net-loss');
      expect(result.notes.resets).toBeGreaterThan(0);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    "6c. a partition from the member carrying the leader's session, longer than the session timeout: leaders act again, no session lost before its timeout",
    async () => {
      await run('net-partition');
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('chaos: a stalled client', () => {
  it(
    '7. a client that never reads its replies: others keep normal latency, the proxy bounds its buffers',
    async () => {
      const result = await run('stalled-client');
      const notes = result.notes as Record<string, number>;
      expect(notes.probeErrors).toBe(0);
      expect(notes.probeSamples).toBeGreaterThan(20);
      // Normal latency, generously: the typical request is as fast as before; the worst ones wait
      // behind the ensemble serving the stalled client's first reads and a loaded machine's
      // hiccups (a few hundred ms), whereas a stalled proxy would hold them for the whole 5 s.
      expect(notes.duringP50Ms).toBeLessThan(Math.max(50, notes.baselineP50Ms! * 5));
      expect(notes.duringP99Ms).toBeLessThan(1_500);
      // Tens of MB of replies were asked for; the proxy holds a small, bounded part of them.
      expect(notes.stalledRepliesDemandedBytes).toBeGreaterThan(40 * 1024 * 1024);
      expect(notes.proxyBufferedBytesMax).toBeLessThan(4 * 1024 * 1024);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
