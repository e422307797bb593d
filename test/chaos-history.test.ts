/**
 * The chaos suite's judge (support/chaos/history.ts) on hand-made histories: each invariant
 * catches the violation it is named after, a clean history passes, windows are measured as stated.
 */
import { describe, expect, it } from 'vitest';
import {
  checkInvariants,
  measureWindow,
  sessionLosses,
  type HistoryEvent,
  type LogEntry,
  type TenantState,
} from './support/chaos/history.ts';

const TIMEOUT = 6_000;
const latch = (n: number) => `/leader/latch/_c_0f-latch-${String(n).padStart(10, '0')}`;
const entryPath = (n: number) => `/log/entry-${String(n).padStart(10, '0')}`;

function action(t: number, contender: string, session: string, latchSeq: number, counter: number, entry: number): HistoryEvent {
  return {
    event: 'action',
    t,
    tenant: contender.split('/')[0],
    contender,
    session,
    result: 'ok',
    latch: latch(latchSeq),
    counter,
    entry: entryPath(entry),
    startedAt: t - 5,
  };
}

function connected(t: number, contender: string, session: string): HistoryEvent {
  return { event: 'state', t, tenant: contender.split('/')[0], contender, session, state: 'CONNECTED', timeout: TIMEOUT };
}

/** The ensemble's view matching acknowledged actions (what a healthy run leaves). */
function stateOf(tenant: string, history: HistoryEvent[]): TenantState {
  const entries: LogEntry[] = history
    .filter((e) => e.event === 'action' && e.result === 'ok' && e.tenant === tenant)
    .map((e) => ({
      path: e.entry!,
      payload: { tenant, contender: e.contender!, session: e.session!, latch: e.latch!, counter: e.counter! },
    }));
  return { tenant, entries, counter: entries.at(-1)?.payload.counter };
}

/** c1 leads (latch 1), loses its session, c2 leads (latch 2). */
function cleanHistory(): HistoryEvent[] {
  return [
    connected(1_000, 'a/c1', '0x1'),
    connected(1_000, 'a/c2', '0x2'),
    action(2_000, 'a/c1', '0x1', 1, 2, 0),
    action(2_100, 'a/c1', '0x1', 1, 3, 1),
    action(9_000, 'a/c2', '0x2', 2, 4, 2),
    connected(9_500, 'a/c1', '0x3'),
    action(9_100, 'a/c2', '0x2', 2, 5, 3),
  ];
}

describe('chaos invariants', () => {
  it('a clean history with a failover and a late session loss breaks none', () => {
    const history = cleanHistory();
    expect(checkInvariants(history, [stateOf('a', history)], TIMEOUT)).toEqual([]);
  });

  it('single leader: an action under an older latch committed after one under a newer latch is caught', () => {
    const history = [...cleanHistory(), action(9_200, 'a/c1', '0x3', 1, 6, 4)];
    const violations = checkInvariants(history, [stateOf('a', history)], TIMEOUT);
    expect(violations.map((v) => v.invariant)).toContain('single leader');
    expect(violations.find((v) => v.invariant === 'single leader')!.detail).toContain(entryPath(4));
  });

  it('single leader: one latch node used by two contenders is caught', () => {
    const history = [...cleanHistory(), action(9_200, 'a/c1', '0x3', 2, 6, 4)];
    expect(checkInvariants(history, [stateOf('a', history)], TIMEOUT).map((v) => v.invariant)).toContain('single leader');
  });

  it('an acknowledged write missing from the ensemble is caught, and so is one holding other data', () => {
    const history = cleanHistory();
    const state = stateOf('a', history);
    const missing = { ...state, entries: state.entries.filter((e) => e.path !== entryPath(1)) };
    expect(checkInvariants(history, [missing], TIMEOUT).filter((v) => v.invariant === 'acknowledged writes kept')).toHaveLength(1);
    const altered = {
      ...state,
      entries: state.entries.map((e) => (e.path === entryPath(1) ? { ...e, payload: { ...e.payload, contender: 'a/c2' } } : e)),
    };
    expect(checkInvariants(history, [altered], TIMEOUT).map((v) => v.invariant)).toContain('acknowledged writes kept');
  });

  it('checkpoint counter: a skipped or repeated value, or a counter node no action set, is caught', () => {
    const history = cleanHistory();
    const state = stateOf('a', history);
    const skipped = {
      ...state,
      entries: state.entries.map((e) => (e.path === entryPath(3) ? { ...e, payload: { ...e.payload, counter: 7 } } : e)),
      counter: 7,
    };
    expect(checkInvariants(history, [skipped], TIMEOUT).map((v) => v.invariant)).toContain('checkpoint counter');
    const repeated = [...history, action(9_300, 'a/c2', '0x2', 2, 5, 4)];
    expect(checkInvariants(repeated, [stateOf('a', repeated)], TIMEOUT).map((v) => v.invariant)).toContain('checkpoint counter');
    expect(checkInvariants(history, [{ ...state, counter: 42 }], TIMEOUT).map((v) => v.invariant)).toContain('checkpoint counter');
  });

  it('a session replaced sooner than its timeout after it was proven alive is caught', () => {
    const history = [...cleanHistory().slice(0, 4), connected(5_000, 'a/c1', '0x3')];
    const violations = checkInvariants(history, [stateOf('a', history)], TIMEOUT);
    expect(violations.map((v) => v.invariant)).toEqual(['session timeout respected']);
    expect(sessionLosses(history, TIMEOUT)).toMatchObject([
      { contender: 'a/c1', lostSession: '0x1', newSession: '0x3', lastProvenAlive: 2_095 },
    ]);
  });

  it("another tenant's data in a tenant's log is caught", () => {
    const history = cleanHistory();
    const state = stateOf('a', history);
    const leaked = {
      ...state,
      entries: [
        ...state.entries,
        { path: entryPath(9), payload: { tenant: 'b', contender: 'b/c1', session: '0x9', latch: latch(3), counter: 6 } },
      ],
    };
    expect(checkInvariants(history, [leaked], TIMEOUT).map((v) => v.invariant)).toContain('tenant isolation');
  });

  it('measures the longest gap without a leader action and the gap where leadership moved', () => {
    expect(measureWindow(cleanHistory(), 'a', 5_000, 10_000)).toEqual({
      tenant: 'a',
      unavailableMs: 6_900,
      failoverMs: 6_900,
      leaderChanges: 1,
      acked: 2,
      failed: 0,
    });
    expect(measureWindow(cleanHistory(), 'a', 1_000, 2_500)).toMatchObject({
      unavailableMs: 1_000,
      failoverMs: null,
      leaderChanges: 0,
      acked: 2,
    });
  });
});
