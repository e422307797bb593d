/**
 * What the live fuzzer runs against, for test/fuzz-live.test.ts and bench/fuzz-live.ts alike: a
 * 1-member ensemble, one proxy PROCESS with tenants alpha (the fuzz target) and canary, and a
 * canary client that owns some data and an ephemeral and keeps its session through the run.
 * `checkFuzzTarget` is the after-run verdict: a list of failures, empty when the proxy survived.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, errorName, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../../src/embedded/ensemble.ts';
import { spawnProxyProcess, type ProxyProcess } from './proxy.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const CANARY_DATA = Buffer.from('canary-payload-that-fuzzing-must-not-touch');
const CANARY_CHILDREN = ['c1', 'c2', 'c3'];
/** ZooKeeper log lines that mean the JVM itself is in trouble (not a client's). */
const JVM_TROUBLE =
  /FATAL|OutOfMemoryError|Unexpected exception causing shutdown|Severe unrecoverable error|exiting abnormally|StackOverflowError/;

/** What the proxy logged, counted as it went (the lines themselves are not all kept). */
export class LogCounts {
  lines = 0;
  internalErrors = 0;
  connectionsOpened = 0;
  sessionsEstablished = 0;
  /** level >= warn, by message (and reason, for refusals and backend failures). */
  readonly byMessage = new Map<string, number>();
  /** The first error-level lines, verbatim. */
  readonly errorSamples: string[] = [];

  add(line: string): void {
    this.lines++;
    if (line.includes('internal error')) this.internalErrors++;
    if (line.includes('"msg":"connection opened"')) {
      this.connectionsOpened++;
      return;
    }
    if (line.includes('"msg":"session established"')) {
      this.sessionsEstablished++;
      return;
    }
    if (line.includes('"msg":"connection closed"') || line.includes('"msg":"connect request"')) return;
    let entry: { level?: number; msg?: string; reason?: string; err?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      // Not pino: a crash trace or a warning from node itself.
      entry = { level: 60, msg: `(not JSON) ${line.slice(0, 160)}` };
    }
    if ((entry.level ?? 0) < 40) return;
    const reason =
      entry.msg === 'refused' || entry.msg === 'ensemble member refused or failed a session'
        ? ` (${String(entry.reason).replace(/\d+/g, 'N')})`
        : '';
    const key = `${entry.level! >= 50 ? 'ERROR' : 'WARN'} ${entry.msg}${reason}`;
    this.byMessage.set(key, (this.byMessage.get(key) ?? 0) + 1);
    if (entry.level! >= 50 && this.errorSamples.length < 10) this.errorSamples.push(line.slice(0, 600));
  }

  errorLines(): number {
    let n = 0;
    for (const [key, count] of this.byMessage) if (key.startsWith('ERROR')) n += count;
    return n;
  }

  format(): string {
    const rows = [...this.byMessage].sort((a, b) => b[1] - a[1]).map(([key, n]) => `    ${String(n).padStart(8)}  ${key}`);
    return [
      `  proxy log: ${this.lines} lines, ${this.connectionsOpened} connections opened, ${this.sessionsEstablished} sessions established, ${this.internalErrors} 'internal error' lines, ${this.errorLines()} error-level lines`,
      ...rows,
    ].join('\n');
  }
}

export interface FuzzTarget {
  ensemble: LocalEnsemble;
  proxy: ProxyProcess;
  log: LogCounts;
  canary: JuteClient;
  canarySessionId: bigint;
  /** Notifications the canary got (it sets watches; nothing may fire them). */
  canaryNotifications: string[];
  canaryClosed: string | undefined;
  baseline: { tenants: Record<string, number>; memberConnections: number };
  /** The fuzz target's port. */
  alphaPort: number;
  /** What checkFuzzTarget noticed that is not a failure (e.g. the fuzz locked alpha's own root). */
  notes: string[];
  close(): Promise<void>;
}

export interface FuzzTargetOptions {
  tickTime?: number;
  /** Proxy log lines kept verbatim in proxy.logs (counting sees all). */
  keepLogLines?: number;
}

export async function startFuzzTarget(options: FuzzTargetOptions = {}): Promise<FuzzTarget> {
  // tickTime 500: sessions the fuzzer leaves behind (2 s) expire soon after their connection drops.
  const ensemble = await LocalEnsemble.start({ size: 1, tickTime: options.tickTime ?? 500 });
  const log = new LogCounts();
  let proxy: ProxyProcess | undefined;
  let canary: JuteClient | undefined;
  try {
    proxy = await spawnProxyProcess(
      ensemble.connectString(),
      [{ name: 'alpha' }, { name: 'canary' }],
      {},
      {
        onLogLine: (line) => log.add(line),
        keepLogLines: options.keepLogLines ?? 2_000,
      },
    );
    canary = await JuteClient.connect({ port: proxy.port('canary'), sessionTimeoutMs: 10_000 });
    await canary.call(OpCode.create, { path: '/canary-data', data: CANARY_DATA, acl: OPEN_ACL, flags: 0 });
    for (const child of CANARY_CHILDREN)
      await canary.call(OpCode.create, { path: `/canary-data/${child}`, data: Buffer.from(child), acl: OPEN_ACL, flags: 0 });
    await canary.call(OpCode.create, { path: '/canary-eph', data: Buffer.from('mine'), acl: OPEN_ACL, flags: 1 });
    const notifications: string[] = [];
    canary.on('notification', (event) =>
      notifications.push(JSON.stringify(event, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
    );
    // Watches that only another tenant's writes could fire.
    await canary.call(OpCode.getData, { path: '/canary-data', watch: true });
    await canary.call(OpCode.getChildren, { path: '/canary-data', watch: true });
    await canary.request(OpCode.exists, { path: '/golden-java', watch: true }); // NONODE, watch set
    const target: FuzzTarget = {
      ensemble,
      proxy,
      log,
      canary,
      canarySessionId: canary.sessionId,
      canaryNotifications: notifications,
      canaryClosed: undefined,
      baseline: { tenants: {}, memberConnections: 0 },
      alphaPort: proxy.port('alpha'),
      notes: [],
      close: async () => {
        canary?.destroy();
        await proxy?.close();
        await ensemble.close();
      },
    };
    canary.on('close', (reason) => (target.canaryClosed = reason));
    target.baseline = { tenants: await tenantConnections(proxy), memberConnections: await memberConnections(ensemble) };
    return target;
  } catch (error) {
    canary?.destroy();
    await proxy?.close();
    await ensemble.close();
    throw error;
  }
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: await response.text() };
}

export async function tenantConnections(proxy: ProxyProcess): Promise<Record<string, number>> {
  const state = JSON.parse((await httpGet(`${proxy.adminUrl}/admin/state`)).body) as { tenants: { name: string; connections: number }[] };
  return Object.fromEntries(state.tenants.map((tenant) => [tenant.name, tenant.connections]));
}

/** Client connections the member has open: the proxy's backend connections (plus this query). */
export async function memberConnections(ensemble: LocalEnsemble): Promise<number> {
  const mntr = await ensemble.fourLetterWord(1, 'mntr');
  const match = /^zk_num_alive_connections\s+(\d+)/m.exec(mntr);
  if (!match) throw new Error(`no zk_num_alive_connections in mntr:\n${mntr}`);
  return Number(match[1]);
}

async function check(failures: string[], what: string, body: () => Promise<string | undefined>): Promise<void> {
  try {
    const problem = await body();
    if (problem !== undefined) failures.push(`${what}: ${problem}`);
  } catch (error) {
    failures.push(`${what}: ${(error as Error).message}`);
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

/** The after-run verdict. Empty = the proxy, the canary and the ensemble came through. */
export async function checkFuzzTarget(target: FuzzTarget, settleMs = 20_000): Promise<string[]> {
  const { proxy, canary, ensemble } = target;
  const failures: string[] = [];
  await check(failures, 'proxy process', async () =>
    proxy.child.exitCode === null && proxy.child.signalCode === null
      ? undefined
      : `exited (code ${proxy.child.exitCode}, signal ${proxy.child.signalCode})`,
  );
  if (failures.length > 0) return failures; // nothing else can answer
  await check(failures, '/healthz', async () => {
    const { status } = await httpGet(`${proxy.adminUrl}/healthz`);
    return status === 200 ? undefined : `status ${status}`;
  });
  await check(failures, '/readyz', async () => {
    const { status, body } = await httpGet(`${proxy.adminUrl}/readyz`);
    return status === 200 ? undefined : `status ${status}: ${body.trim()}`;
  });
  await check(failures, 'canary session', async () => {
    if (target.canaryClosed !== undefined) return `connection closed: ${target.canaryClosed}`;
    if (canary.sessionId !== target.canarySessionId) return `session changed`;
    const data = (await canary.call(OpCode.getData, { path: '/canary-data', watch: false })).body as { data: Buffer | null };
    if (data.data === null || !data.data.equals(CANARY_DATA)) return `data is now ${String(data.data)}`;
    const children = ((await canary.call(OpCode.getChildren, { path: '/canary-data', watch: false })).body as { children: string[] })
      .children;
    if ([...children].sort().join(',') !== CANARY_CHILDREN.join(',')) return `children are now ${children.join(',')}`;
    const stat = ((await canary.call(OpCode.exists, { path: '/canary-eph', watch: false })).body as { stat: { ephemeralOwner: bigint } })
      .stat;
    if (stat.ephemeralOwner !== target.canarySessionId) return `ephemeral owner is 0x${stat.ephemeralOwner.toString(16)}`;
    if (target.canaryNotifications.length > 0) return `got notifications: ${target.canaryNotifications.slice(0, 3).join(' ')}`;
    return undefined;
  });
  await check(failures, 'fresh client on alpha', async () => {
    const fresh = await JuteClient.connect({ port: target.alphaPort, sessionTimeoutMs: 4_000, connectTimeoutMs: 5_000 });
    try {
      await fresh.ping();
      await fresh.call(OpCode.exists, { path: '/', watch: false }); // exists checks no ACL
      const path = `/after-fuzz-${process.pid}-${Date.now()}`;
      const created = await fresh.request(OpCode.create, { path, data: Buffer.from('ok'), acl: OPEN_ACL, flags: 1 });
      if (created.err === ErrorCode.NOAUTH) {
        // A tenant may setACL its own root (the fuzz replays setACL with mutated paths, "/" among
        // them) and so lock itself out of it: ZooKeeper semantics, answered correctly.
        const acl = await fresh.request(OpCode.getACL, { path: '/' });
        target.notes.push(
          `alpha's root no longer lets the tenant create (a fuzzed setACL on "/"): getACL / = ${acl.err === 0 ? JSON.stringify(acl.body?.acl) : errorName(acl.err)}`,
        );
        return undefined;
      }
      if (created.err !== ErrorCode.OK) return `create answered ${errorName(created.err)}`;
      const data = ((await fresh.call(OpCode.getData, { path, watch: false })).body as { data: Buffer | null }).data;
      return data?.toString() === 'ok' ? undefined : `read back ${String(data)}`;
    } finally {
      await fresh.close();
    }
  });
  await check(failures, 'proxy connections back to the baseline', async () => {
    let last: Record<string, number> = {};
    const ok = await until(async () => {
      last = await tenantConnections(proxy);
      return JSON.stringify(last) === JSON.stringify(target.baseline.tenants);
    }, settleMs);
    return ok ? undefined : `${JSON.stringify(last)}, baseline ${JSON.stringify(target.baseline.tenants)}`;
  });
  await check(failures, 'ensemble connections back to the baseline', async () => {
    let last = 0;
    const ok = await until(async () => (last = await memberConnections(ensemble)) === target.baseline.memberConnections, settleMs);
    return ok ? undefined : `${last}, baseline ${target.baseline.memberConnections}`;
  });
  await check(failures, "proxy log 'internal error' lines", async () =>
    target.log.internalErrors === 0 ? undefined : `${target.log.internalErrors}`,
  );
  await check(failures, 'ZooKeeper JVM', async () => {
    const member = ensemble.members[0]!;
    if (member.state !== 'running') return `member is ${member.state}`;
    const ruok = await ensemble.fourLetterWord(1, 'ruok');
    if (ruok !== 'imok') return `ruok answered ${JSON.stringify(ruok)}`;
    const trouble = readFileSync(member.logFile, 'utf8')
      .split('\n')
      .filter((line) => JVM_TROUBLE.test(line));
    return trouble.length === 0 ? undefined : `${trouble.length} crash line(s) in its log, first: ${trouble[0]}`;
  });
  return failures;
}

/** ZooKeeper log lines at WARN/ERROR, by message shape (numbers and hex elided), for the report. */
export function ensembleLogSummary(target: FuzzTarget, top = 12): string {
  const counts = new Map<string, number>();
  for (const line of readFileSync(target.ensemble.members[0]!.logFile, 'utf8').split('\n')) {
    const match = /\b(WARN|ERROR)\b\s+(.*)$/.exec(line);
    if (!match) continue;
    const key = `${match[1]} ${match[2]!
      .replace(/0x[0-9a-f]+/gi, '0x…')
      .replace(/\d+/g, 'N')
      .slice(0, 150)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`  ZooKeeper log WARN/ERROR (top ${top} shapes):`, ...rows.map(([key, n]) => `    ${String(n).padStart(8)}  ${key}`)].join('\n');
}
