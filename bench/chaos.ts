/**
 * Chaos long runner (issue 8): every scenario of test/support/chaos/scenarios.ts, repeated.
 *
 *   npm run bench:chaos -- [--rounds 3] [--scenarios leader-kill,proxy-kill,...] [--session-timeout 6000]
 *
 * One topology (3-member ensemble, a fault relay per member, two proxy replicas, two tenants of
 * Flink-like Curator leader contenders) runs the scenarios in order, --rounds times. After each
 * fault it waits for every tenant's leader to act again and checks every invariant on the whole
 * history against the ensemble's data. Writes bench/results/chaos-<timestamp>.md (the table per
 * scenario, every run's line, every violation) and prints it. Exit 1 when an invariant was
 * broken or a scenario did not recover.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compileContenders } from '../test/support/chaos/contenders.ts';
import { formatResult, renderTable } from '../test/support/chaos/report.ts';
import { runScenario, scenario, SCENARIOS, type ScenarioResult } from '../test/support/chaos/scenarios.ts';
import { ChaosTopology, DEFAULT_CHAOS_OPTIONS } from '../test/support/chaos/topology.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    scenarios: { type: 'string', default: SCENARIOS.map((s) => s.id).join(',') },
    'session-timeout': { type: 'string', default: String(DEFAULT_CHAOS_OPTIONS.sessionTimeoutMs) },
  },
});
const rounds = Number(values.rounds);
const chosen = values.scenarios.split(',').map((id) => scenario(id.trim()));
const options = { ...DEFAULT_CHAOS_OPTIONS, sessionTimeoutMs: Number(values['session-timeout']) };
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);

const startedAt = new Date();
const compiled = await compileContenders();
const topology = await ChaosTopology.start(compiled, options);
const results: ScenarioResult[] = [];
const failures: string[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    for (const s of chosen) {
      try {
        const result = await runScenario(topology, s);
        results.push(result);
        console.log(`[round ${round}] ${formatResult(result)}`);
      } catch (error) {
        failures.push(`round ${round} ${s.id}: ${error instanceof Error ? error.message : String(error)}`);
        console.log(`[round ${round}] ${s.id} did not recover:\n${topology.diagnostics()}`);
        await topology.restoreEnsemble();
      }
    }
  }
} finally {
  await topology.close();
  compiled.cleanup();
}

const violations = results.flatMap((r) => r.violations.map((v) => `${r.scenario}: ${v.invariant}: ${v.detail}`));
const unique = [...new Set(violations)]; // the history is checked whole after each scenario: a violation repeats
const report = [
  `# Chaos run ${startedAt.toISOString()}`,
  '',
  `${rounds} round(s); ${cpus().length} cores; session timeout ${options.sessionTimeoutMs} ms (tickTime ${options.tickTimeMs} ms); ` +
    `tenants ${options.tenants.join(', ')}, two contenders each; leader action every ${options.actionPauseMs} ms; drain ${options.drainMs} ms.`,
  'Failover: from the last action of one leader to the first of the next (runs where leadership moved). ' +
    'Unavailability: longest time without an acknowledged leader action, per tenant, from the fault until every leader acted 5 times again.',
  '',
  renderTable(results),
  '',
  '## Runs',
  '',
  ...results.map((r) => `- ${formatResult(r)}`),
  '',
  '## Invariant violations',
  '',
  ...(unique.length === 0 ? ['None.'] : unique.map((v) => `- ${v}`)),
  ...(failures.length === 0 ? [] : ['', '## Scenarios that did not recover', '', ...failures.map((f) => `- ${f}`)]),
  '',
].join('\n');
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const file = join(
  dir,
  `chaos-${startedAt
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z')}.md`,
);
writeFileSync(file, report);
console.log(`\n${report}\nwritten to ${file}`);
process.exitCode = unique.length > 0 || failures.length > 0 ? 1 : 0;
