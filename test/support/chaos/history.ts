/**
 * The recorded history of a chaos run (the JSON lines of test/chaos/ChaosContender.java) and the
 * invariants checked on it together with what the ensemble holds afterwards. Pure functions: no
 * processes, no I/O, so the short tests and the long runner judge runs the same way.
 */

export interface HistoryEvent {
  event: 'started' | 'stopped' | 'state' | 'leader' | 'notLeader' | 'action';
  /** Epoch ms in the contender process (same clock as this process). */
  t: number;
  tenant?: string;
  contender?: string;
  session?: string;
  /** Curator connection state (state events). */
  state?: string;
  /** Negotiated session timeout, on connected states. */
  timeout?: number;
  /** The contender's latch node (leader and action events). */
  latch?: string;
  /** 'ok' or the KeeperException code / exception name (action events). */
  result?: string;
  counter?: number;
  /** The created /log/entry-NNNNNNNNNN (acknowledged actions). */
  entry?: string;
  startedAt?: number;
}

export interface AckedAction extends HistoryEvent {
  tenant: string;
  contender: string;
  session: string;
  latch: string;
  counter: number;
  entry: string;
  startedAt: number;
}

/** One committed leader action as the ensemble holds it. */
export interface LogEntry {
  /** Client path, /log/entry-NNNNNNNNNN. */
  path: string;
  payload: { tenant: string; contender: string; session: string; latch: string; counter: number };
}

/** What the ensemble holds for one tenant after (part of) a run. */
export interface TenantState {
  tenant: string;
  entries: LogEntry[];
  /**
   * Value of /checkpoint-counter, undefined when absent. Read before the log while leaders keep
   * acting, so the log holds the entry that set it, and perhaps later ones.
   */
  counter: number | undefined;
}

export interface Violation {
  invariant: 'single leader' | 'acknowledged writes kept' | 'checkpoint counter' | 'session timeout respected' | 'tenant isolation';
  detail: string;
}

/** The trailing sequence number of a sequential node's name. */
export function sequenceOf(path: string): number {
  const match = /(\d{10})$/.exec(path);
  if (!match) throw new Error(`not a sequential node: ${path}`);
  return Number(match[1]);
}

export function ackedActions(history: readonly HistoryEvent[], tenant?: string): AckedAction[] {
  return history.filter(
    (e): e is AckedAction => e.event === 'action' && e.result === 'ok' && (tenant === undefined || e.tenant === tenant),
  );
}

/**
 * Never two leaders of one tenant at once: ordered by commit (the entry's sequence number),
 * leader actions never go back to an older latch node, and each latch node is one contender's.
 * Checked on everything the ensemble committed, acknowledged or not.
 */
function checkSingleLeader(state: TenantState): Violation[] {
  const violations: Violation[] = [];
  const ownerOfLatch = new Map<string, string>();
  let previous: LogEntry | undefined;
  for (const entry of sortedEntries(state)) {
    const { latch, contender } = entry.payload;
    const owner = ownerOfLatch.get(latch);
    if (owner !== undefined && owner !== contender) {
      violations.push({
        invariant: 'single leader',
        detail: `${state.tenant}: latch ${latch} used by ${owner} and ${contender} (${entry.path})`,
      });
    }
    ownerOfLatch.set(latch, contender);
    if (previous && sequenceOf(latch) < sequenceOf(previous.payload.latch)) {
      violations.push({
        invariant: 'single leader',
        detail: `${state.tenant}: ${entry.path} by ${contender} (latch ${latch}) committed after ${previous.path} by ${previous.payload.contender} (newer latch ${previous.payload.latch})`,
      });
    }
    previous = entry;
  }
  return violations;
}

/** Every acknowledged action's entry exists with the payload the contender wrote. */
function checkAckedWritesKept(acked: readonly AckedAction[], state: TenantState): Violation[] {
  const byPath = new Map(state.entries.map((entry) => [entry.path, entry]));
  const violations: Violation[] = [];
  for (const action of acked) {
    const entry = byPath.get(action.entry);
    if (!entry)
      violations.push({
        invariant: 'acknowledged writes kept',
        detail: `${action.tenant}: ${action.entry} acknowledged to ${action.contender} at ${action.t} is gone`,
      });
    else if (entry.payload.contender !== action.contender || entry.payload.counter !== action.counter) {
      violations.push({
        invariant: 'acknowledged writes kept',
        detail: `${action.tenant}: ${action.entry} holds ${JSON.stringify(entry.payload)}, acknowledged as ${action.contender} counter ${action.counter}`,
      });
    }
  }
  return violations;
}

/**
 * Checkpoint counter values are unique and increasing: in commit order each action moved the
 * counter by exactly one, the counter node holds a value one of them set, and no value was
 * acknowledged twice.
 */
function checkCounter(acked: readonly AckedAction[], state: TenantState): Violation[] {
  const violations: Violation[] = [];
  const entries = sortedEntries(state);
  for (let i = 1; i < entries.length; i++) {
    const [before, after] = [entries[i - 1]!, entries[i]!];
    if (after.payload.counter !== before.payload.counter + 1) {
      violations.push({
        invariant: 'checkpoint counter',
        detail: `${state.tenant}: ${before.path} set ${before.payload.counter}, then ${after.path} set ${after.payload.counter}`,
      });
    }
  }
  if (state.counter !== undefined && entries.length > 0 && !entries.some((entry) => entry.payload.counter === state.counter)) {
    violations.push({
      invariant: 'checkpoint counter',
      detail: `${state.tenant}: /checkpoint-counter is ${state.counter}, set by no action in the log`,
    });
  }
  const seen = new Map<number, AckedAction>();
  for (const action of acked) {
    const earlier = seen.get(action.counter);
    if (earlier)
      violations.push({
        invariant: 'checkpoint counter',
        detail: `${action.tenant}: counter ${action.counter} acknowledged to ${earlier.contender} and ${action.contender}`,
      });
    seen.set(action.counter, action);
  }
  return violations;
}

/** No tenant's data names another tenant; no contender's action landed in another tenant's log. */
function checkIsolation(acked: readonly AckedAction[], state: TenantState): Violation[] {
  const violations: Violation[] = [];
  for (const entry of state.entries) {
    if (entry.payload.tenant !== state.tenant || !entry.payload.contender.startsWith(`${state.tenant}/`)) {
      violations.push({ invariant: 'tenant isolation', detail: `${state.tenant}'s ${entry.path} holds ${JSON.stringify(entry.payload)}` });
    }
  }
  for (const action of acked) {
    if (!action.contender.startsWith(`${state.tenant}/`))
      violations.push({ invariant: 'tenant isolation', detail: `${action.contender} acted in ${state.tenant}` });
  }
  return violations;
}

export interface SessionLoss {
  contender: string;
  lostSession: string;
  newSession: string;
  /** When the contender reported the new session. */
  at: number;
  /** The last moment the old session was proven alive at the ensemble (an action it sent then was acknowledged). */
  lastProvenAlive: number | undefined;
  timeoutMs: number;
}

/** Each time a contender's session was replaced by a new one. */
export function sessionLosses(history: readonly HistoryEvent[], defaultTimeoutMs: number): SessionLoss[] {
  const losses: SessionLoss[] = [];
  const current = new Map<string, { session: string; timeoutMs: number; lastProvenAlive: number | undefined }>();
  for (const event of history) {
    if (!event.contender || !event.session) continue;
    const known = current.get(event.contender);
    if (event.event === 'state' && (event.state === 'CONNECTED' || event.state === 'RECONNECTED')) {
      if (known && known.session !== event.session) {
        losses.push({
          contender: event.contender,
          lostSession: known.session,
          newSession: event.session,
          at: event.t,
          lastProvenAlive: known.lastProvenAlive,
          timeoutMs: known.timeoutMs,
        });
      }
      if (!known || known.session !== event.session) {
        current.set(event.contender, { session: event.session, timeoutMs: event.timeout ?? defaultTimeoutMs, lastProvenAlive: undefined });
      }
    } else if (event.event === 'action' && event.result === 'ok' && known && known.session === event.session) {
      known.lastProvenAlive = Math.max(known.lastProvenAlive ?? 0, event.startedAt ?? event.t);
    }
  }
  return losses;
}

/**
 * A session may only be lost a full timeout after it was last proven alive: the ensemble
 * expires a session no earlier, and Curator gives up on one no earlier.
 */
function checkSessionTimeouts(losses: readonly SessionLoss[]): Violation[] {
  return losses
    .filter((loss) => loss.lastProvenAlive !== undefined && loss.at - loss.lastProvenAlive < loss.timeoutMs)
    .map((loss) => ({
      invariant: 'session timeout respected' as const,
      detail: `${loss.contender}: session ${loss.lostSession} replaced by ${loss.newSession} ${loss.at - loss.lastProvenAlive!} ms after it was last proven alive (timeout ${loss.timeoutMs} ms)`,
    }));
}

export function checkInvariants(history: readonly HistoryEvent[], states: readonly TenantState[], defaultTimeoutMs: number): Violation[] {
  const violations: Violation[] = [];
  for (const state of states) {
    const acked = ackedActions(history, state.tenant);
    violations.push(
      ...checkSingleLeader(state),
      ...checkAckedWritesKept(acked, state),
      ...checkCounter(acked, state),
      ...checkIsolation(acked, state),
    );
  }
  const tenants = new Set(states.map((state) => state.tenant));
  for (const action of ackedActions(history)) {
    if (!tenants.has(action.tenant))
      violations.push({ invariant: 'tenant isolation', detail: `action acknowledged for unknown tenant ${action.tenant}` });
  }
  violations.push(...checkSessionTimeouts(sessionLosses(history, defaultTimeoutMs)));
  return violations;
}

export interface WindowMeasurement {
  tenant: string;
  /** Longest time without an acknowledged leader action, from the last one before the fault to the end of the window. */
  unavailableMs: number;
  /** Longest gap between the last action of one leader and the first of the next (null: leadership never moved). */
  failoverMs: number | null;
  leaderChanges: number;
  acked: number;
  failed: number;
}

/** How one tenant's leader actions fared between `from` (the fault) and `to` (recovered). */
export function measureWindow(history: readonly HistoryEvent[], tenant: string, from: number, to: number): WindowMeasurement {
  const acked = ackedActions(history, tenant).sort((a, b) => a.t - b.t);
  const before = acked.filter((action) => action.t < from).at(-1);
  const inWindow = acked.filter((action) => action.t >= from && action.t <= to);
  // Without an action before the fault, the window's start stands in for it.
  let unavailableMs = (inWindow[0]?.t ?? to) - (before?.t ?? from);
  let failoverMs: number | null = null;
  let leaderChanges = 0;
  const series = before ? [before, ...inWindow] : inWindow;
  for (let i = 1; i < series.length; i++) {
    const gap = series[i]!.t - series[i - 1]!.t;
    unavailableMs = Math.max(unavailableMs, gap);
    if (series[i]!.latch !== series[i - 1]!.latch) {
      leaderChanges++;
      failoverMs = Math.max(failoverMs ?? 0, gap);
    }
  }
  const failed = history.filter((e) => e.event === 'action' && e.tenant === tenant && e.result !== 'ok' && e.t >= from && e.t <= to).length;
  return { tenant, unavailableMs, failoverMs, leaderChanges, acked: inWindow.length, failed };
}

function sortedEntries(state: TenantState): LogEntry[] {
  return [...state.entries].sort((a, b) => sequenceOf(a.path) - sequenceOf(b.path));
}
