/**
 * What the real-Flink scenario reads to judge a run: the counter job's event file, the leader
 * information Flink publishes in ZooKeeper, the tenant's tree on the ensemble, the proxies'
 * per-opcode request counters, and which proxy replica a process is connected to.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ErrorCode, OpCode } from 'jute-ts';
import { runProcess } from '../support/run-process.ts';
import type { ServerTree } from '../support/server-tree.ts';
import type { FlinkRelease } from './flink-processes.ts';

export interface CounterEvents {
  /** Every `start` line: the attempt, whether it restored state, and the value it started from. */
  starts: { line: number; attempt: number; restored: boolean; value: number }[];
  /** checkpoint id -> the counter value in that snapshot. */
  snapshots: Map<number, number>;
  /** `complete` lines: checkpoints the running attempt heard were completed. */
  completed: { line: number; id: number }[];
  /** Every counted value, in file order. */
  counts: { line: number; value: number }[];
  /** Complete lines so far: the index the next line will have. */
  lines: number;
}

export function readCounterEvents(file: string): CounterEvents {
  const events: CounterEvents = { starts: [], snapshots: new Map(), completed: [], counts: [], lines: 0 };
  if (!existsSync(file)) return events;
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop(); // the line being written, or '' after the last newline
  lines.forEach((text, line) => {
    const [kind, a, b, c] = text.split(' ');
    if (kind === 'count') events.counts.push({ line, value: Number(a) });
    else if (kind === 'snapshot') events.snapshots.set(Number(a), Number(b));
    else if (kind === 'complete') events.completed.push({ line, id: Number(a) });
    else if (kind === 'start') events.starts.push({ line, attempt: Number(a), restored: b === 'restored', value: Number(c) });
  });
  events.lines = lines.length;
  return events;
}

/** Flink's cluster root on the ensemble: the tenant's chroot, path.root and cluster-id. */
export function clusterRoot(tenant: string, clusterId = '/flink-cluster'): string {
  return `/tenants/${tenant}/flink${clusterId}`;
}

/** Where a release publishes the REST endpoint's leader information (relative to the cluster root). */
export function restLeaderNode(release: FlinkRelease): string {
  return release.startsWith('1.12') ? '/leader/rest_server_lock' : '/leader/rest_server/connection_info';
}

/** The REST leader's URL from its leader information (Java-serialized: writeUTF(address) + UUID). */
export async function restLeaderUrl(tree: ServerTree, tenant: string, release: FlinkRelease): Promise<string | undefined> {
  const data = await tree.data(clusterRoot(tenant) + restLeaderNode(release));
  return data?.toString('latin1').match(/http:\/\/[0-9.]+:\d+/)?.[0];
}

/** The session owning the REST leader node (an ephemeral), or undefined while there is none. */
export async function restLeaderSession(tree: ServerTree, tenant: string, release: FlinkRelease): Promise<bigint | undefined> {
  const reply = await tree.client.request(OpCode.exists, { path: clusterRoot(tenant) + restLeaderNode(release), watch: false });
  if (reply.err !== ErrorCode.OK) return undefined;
  return (reply.body!.stat as { ephemeralOwner: bigint }).ephemeralOwner;
}

/**
 * One counter of one tenant from a replica's /metrics, by the value of `label`: e.g.
 * zkproxy_requests_total by opcode, zkproxy_reply_errors_total by code.
 */
export async function tenantCounter(adminUrl: string, metric: string, tenant: string, label: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.indexOf('}'));
    if (!labels.includes(`tenant="${tenant}"`)) continue;
    const value = labels.match(new RegExp(`${label}="([^"]+)"`))?.[1];
    if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** The sum of several replicas' counts. */
export function sumCounts(all: Iterable<Map<string, number>>): Record<string, number> {
  const total = new Map<string, number>();
  for (const counts of all) for (const [key, count] of counts) total.set(key, (total.get(key) ?? 0) + count);
  return Object.fromEntries([...total].sort(([a], [b]) => a.localeCompare(b)));
}

/** The local ports `pid` has established TCP connections to (from `ss`), among `ports`. */
export async function connectedPorts(pid: number, ports: readonly number[]): Promise<number[]> {
  const result = await runProcess('ss', ['-Htnp', 'state', 'established'], { timeoutMs: 10_000 });
  const found = new Set<number>();
  for (const line of result.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const peer = line.trim().split(/\s+/)[3] ?? '';
    const port = Number(peer.slice(peer.lastIndexOf(':') + 1));
    if (ports.includes(port)) found.add(port);
  }
  return [...found];
}
