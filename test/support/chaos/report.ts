/** One line per scenario run (for test output) and the per-scenario table of the long runner. */
import { percentile } from './stalled-client.ts';
import { SCENARIOS, type ScenarioResult } from './scenarios.ts';

export function formatResult(result: ScenarioResult): string {
  const tenants = result.measurements
    .map(
      (m) =>
        `${m.tenant}: unavailable ${m.unavailableMs} ms, failover ${m.failoverMs ?? '-'} ms, ${m.leaderChanges} leader changes, ${m.acked} acked / ${m.failed} failed`,
    )
    .join('; ');
  const notes = Object.entries(result.notes)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  const losses = result.sessionLosses
    .map((loss) => `${loss.contender} ${loss.lostSession} -> ${loss.newSession} at +${loss.at - result.faultAt} ms`)
    .join(', ');
  return `${result.scenario}: ${tenants}; sessions lost ${result.sessionLosses.length}${losses ? ` (${losses})` : ''}; violations ${result.violations.length}${notes ? `; ${notes}` : ''}`;
}

function p50max(values: number[]): string {
  if (values.length === 0) return '-';
  return `${Math.round(percentile(values, 50))} / ${Math.round(Math.max(...values))}`;
}

/** Markdown table: one row per scenario, figures over every run and tenant. */
export function renderTable(results: readonly ScenarioResult[]): string {
  const rows = [
    '| Scenario | Runs | Leader failover ms p50 / max | Unavailability ms p50 / max | Leader changes | Sessions lost | Lost acked writes | Invariant violations |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const scenario of SCENARIOS) {
    const runs = results.filter((r) => r.scenario === scenario.id);
    if (runs.length === 0) continue;
    const measurements = runs.flatMap((r) => r.measurements);
    const failovers = measurements.flatMap((m) => (m.failoverMs === null ? [] : [m.failoverMs]));
    const lostWrites = runs.flatMap((r) => r.violations).filter((v) => v.invariant === 'acknowledged writes kept').length;
    const violations = runs.reduce((sum, r) => sum + r.violations.length, 0);
    rows.push(
      `| ${scenario.title} | ${runs.length} | ${p50max(failovers)} | ${p50max(measurements.map((m) => m.unavailableMs))} | ` +
        `${measurements.reduce((sum, m) => sum + m.leaderChanges, 0)} | ${runs.reduce((sum, r) => sum + r.sessionLosses.length, 0)} | ${lostWrites} | ${violations} |`,
    );
  }
  return rows.join('\n');
}
