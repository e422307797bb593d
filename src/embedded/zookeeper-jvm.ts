import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the Debian packages `libzookeeper-java` and `libslf4j-java` put their jars. */
const DEBIAN_JAVA_DIR = '/usr/share/java';

/**
 * zookeeper.jar's manifest Class-Path names its runtime dependencies (netty, jute, metrics,
 * snappy, commons-*, slf4j-api, jetty...), so the server needs no hand-built classpath. What it
 * lacks is an SLF4J binding: Debian's own zkServer.sh therefore logs nothing at all (SLF4J falls
 * back to NOP). slf4j-simple logs to stderr, which the fixture redirects into the member's log file.
 */
const SERVER_CLASSPATH = [join(DEBIAN_JAVA_DIR, 'zookeeper.jar'), join(DEBIAN_JAVA_DIR, 'slf4j-simple.jar')];

const QUORUM_PEER_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';

/**
 * Flags chosen for start-up latency on small CI machines, not for throughput: C1 only, serial GC,
 * no perf-data mmap, CDS archive when the JDK has one.
 */
function startupTunedJvmFlags(heapMb: number): string[] {
  return [
    `-Xmx${heapMb}m`,
    '-Xms32m',
    '-Xss512k',
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-XX:-UsePerfData',
    '-Xshare:auto',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
  ];
}

/** SLF4J-simple settings: one timestamped line per event, at INFO, to stderr. */
const LOGGING_PROPERTIES: Record<string, string> = {
  'org.slf4j.simpleLogger.logFile': 'System.err',
  'org.slf4j.simpleLogger.defaultLogLevel': 'info',
  'org.slf4j.simpleLogger.showDateTime': 'true',
  'org.slf4j.simpleLogger.dateTimeFormat': 'HH:mm:ss.SSS',
  'org.slf4j.simpleLogger.showShortLogName': 'true',
};

export interface ZookeeperServerCommand {
  readonly executable: string;
  readonly args: readonly string[];
}

export interface ZookeeperServerCommandOptions {
  configFile: string;
  heapMb: number;
  /** Passed as -Dkey=value, after the fixture's own properties so callers can override them. */
  systemProperties: Readonly<Record<string, string>>;
  /** Arguments placed first, so process scanners find them without parsing the whole line. */
  markerArgs: readonly string[];
  /**
   * Jars of another ZooKeeper server release (with an SLF4J binding), e.g. a Maven artifact set;
   * default: Debian's 3.8 (SERVER_CLASSPATH).
   */
  classpath?: readonly string[];
}

export function zookeeperServerCommand(options: ZookeeperServerCommandOptions): ZookeeperServerCommand {
  const classpath = options.classpath ?? SERVER_CLASSPATH;
  assertJarsPresent(classpath);
  const properties = {
    ...LOGGING_PROPERTIES,
    // Releases before 3.8 register log4j 1 MBeans when log4j is on the classpath; it never is here.
    'zookeeper.jmx.log4j.disable': 'true',
    ...options.systemProperties,
  };
  return {
    executable: javaExecutable(),
    args: [
      ...options.markerArgs,
      ...startupTunedJvmFlags(options.heapMb),
      ...Object.entries(properties).map(([key, value]) => `-D${key}=${value}`),
      '-cp',
      classpath.join(':'),
      QUORUM_PEER_MAIN,
      options.configFile,
    ],
  };
}

function javaExecutable(): string {
  const javaHome = process.env['JAVA_HOME'];
  return javaHome ? join(javaHome, 'bin', 'java') : 'java';
}

function assertJarsPresent(classpath: readonly string[]): void {
  const missing = classpath.filter((jar) => !existsSync(jar));
  if (missing.length > 0) {
    throw new Error(
      `ZooKeeper jars not found: ${missing.join(', ')}. Run ./zkp once (scripts/setup.sh installs the Debian packages and Maven sets).`,
    );
  }
}
