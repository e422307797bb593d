/** CPU time and memory of processes, from /proc (Linux only). */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process (all its threads), in seconds; undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * Time the process's main thread (the thread-group leader: Node's and haproxy's event loop) spent
 * runnable but waiting for a CPU, in seconds (/proc/<pid>/schedstat, field 2).
 */
export function mainThreadRunDelaySeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
    return Number(fields[1]) / 1e9;
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), undefined once the process is gone. */
export function processRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Machine-wide busy CPU seconds (all cores, everything but idle and iowait) from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = v;
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond();
}

/** A group of processes whose CPU time is reported together (e.g. the 3 ZooKeeper JVMs). */
export interface ProcessGroup {
  name: string;
  pids: () => number[];
}

export interface CpuSnapshot {
  at: number;
  machine: number;
  groups: Map<string, number>;
  /** Main-thread run-queue wait per group (sum over its pids), seconds. */
  waits: Map<string, number>;
  self: number;
}

export function cpuSnapshot(groups: readonly ProcessGroup[]): CpuSnapshot {
  const result = new Map<string, number>();
  const waits = new Map<string, number>();
  for (const group of groups) {
    let sum = 0;
    let wait = 0;
    for (const pid of group.pids()) {
      sum += processCpuSeconds(pid) ?? 0;
      wait += mainThreadRunDelaySeconds(pid) ?? 0;
    }
    result.set(group.name, sum);
    waits.set(group.name, wait);
  }
  const self = process.cpuUsage();
  return { at: performance.now(), machine: machineBusySeconds(), groups: result, waits, self: (self.user + self.system) / 1e6 };
}

export interface CpuUsage {
  wallSeconds: number;
  /** Cores used by each group over the interval (CPU seconds / wall seconds). */
  cores: Record<string, number>;
  /**
   * Share of wall time each group's main thread sat runnable waiting for a CPU (0..1 per process):
   * how much the event loop was starved by other processes on this machine.
   */
  runQueueWait: Record<string, number>;
  /** Cores used machine-wide by processes outside every group and outside the orchestrator: noise. */
  otherCores: number;
  machineCores: number;
}

/**
 * Cores used between two snapshots. Group CPU is taken from the groups' pids at the end snapshot,
 * so a process that starts or exits inside the interval is counted only for the time it was seen.
 */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUsage {
  const wall = (b.at - a.at) / 1000;
  const cores: Record<string, number> = {};
  const runQueueWait: Record<string, number> = {};
  for (const [name, end] of b.waits) runQueueWait[name] = Math.max(0, end - (a.waits.get(name) ?? 0)) / wall;
  let ours = b.self - a.self;
  for (const [name, end] of b.groups) {
    const used = Math.max(0, end - (a.groups.get(name) ?? 0));
    cores[name] = used / wall;
    ours += used;
  }
  const machine = b.machine - a.machine;
  return { wallSeconds: wall, cores, runQueueWait, otherCores: Math.max(0, machine - ours) / wall, machineCores: machine / wall };
}

/** A process and all its descendants (e.g. the proxy and its worker processes), from /proc/<pid>/task/<tid>/children. */
export function processTreePids(root: number): number[] {
  const out: number[] = [];
  const visit = (pid: number) => {
    out.push(pid);
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      let children = '';
      try {
        children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean)) visit(Number(child));
    }
  };
  visit(root);
  return out;
}

/** Summed RSS of several processes (bytes); undefined when none of them is alive. */
export function totalRssBytes(pids: number[]): number | undefined {
  const values = pids.map(processRssBytes).filter((v): v is number => v !== undefined);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}
