/**
 * The client programs whose traffic becomes golden fixtures, and how to build and launch each.
 * The `name` is both the "client" field of every record and the fixture file name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { curatorClasspath } from '../../support/java.ts';
import type { ClientCommand } from './client-process.ts';
import type { GoldenServer } from './server.ts';

const CLIENTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'clients');
/** Debian's ZooKeeper client and Curator jars: built in one place for every Java program of the tests. */
const JAVA_CLASSPATH = curatorClasspath();

export interface GoldenClient {
  name: string;
  /** Builds whatever the client needs inside workDir and returns how to run it. */
  prepare(workDir: string, server: GoldenServer, relayConnectString: string): ClientCommand;
}

function commonEnv(server: GoldenServer, relayConnectString: string): Record<string, string> {
  return {
    GOLDEN_CONNECT: relayConnectString,
    GOLDEN_DIRECT: server.directConnectString,
    GOLDEN_SUPER: `${server.superDigest.user}:${server.superDigest.password}`,
    GOLDEN_SASL: `${server.sasl.user}:${server.sasl.password}`,
  };
}

const java: GoldenClient = {
  name: 'java',
  prepare(workDir, server, relayConnectString) {
    // Compiled into the temp dir on every run: class files never land in the repo, and the
    // client always matches the jars actually installed.
    const classes = join(workDir, 'java-classes');
    mkdirSync(classes, { recursive: true });
    execFileSync('javac', ['-d', classes, '-cp', JAVA_CLASSPATH.join(':'), join(CLIENTS_DIR, 'GoldenJava.java')], {
      stdio: 'inherit',
    });
    const jaasFile = join(workDir, 'client-jaas.conf');
    writeFileSync(
      jaasFile,
      // Only sessions that ask for the GoldenSasl section use it; all others disable SASL.
      `GoldenSasl {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n` +
        `  username="${server.sasl.user}"\n  password="${server.sasl.password}";\n};\n`,
    );
    return {
      name: 'java',
      executable: 'java',
      args: [
        '-Xmx256m',
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        `-Djava.security.auth.login.config=${jaasFile}`,
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        [classes, ...JAVA_CLASSPATH].join(':'),
        'GoldenJava',
      ],
      env: commonEnv(server, relayConnectString),
      timeoutMs: 240_000,
    };
  },
};

const kazoo: GoldenClient = {
  name: 'kazoo',
  prepare(_workDir, server, relayConnectString) {
    return {
      name: 'kazoo',
      // Debian's python3-kazoo lives in the system interpreter, not in whatever python3 is first on PATH.
      executable: '/usr/bin/python3',
      args: ['-u', join(CLIENTS_DIR, 'golden_kazoo.py')],
      env: commonEnv(server, relayConnectString),
      timeoutMs: 180_000,
    };
  },
};

const nodeZookeeperClient: GoldenClient = {
  name: 'node-zookeeper-client',
  prepare(_workDir, server, relayConnectString) {
    return {
      name: 'node-zookeeper-client',
      executable: process.execPath,
      args: [join(CLIENTS_DIR, 'golden_node.ts')],
      env: commonEnv(server, relayConnectString),
      timeoutMs: 120_000,
    };
  },
};

export const GOLDEN_CLIENTS: readonly GoldenClient[] = [java, kazoo, nodeZookeeperClient];
