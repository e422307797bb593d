/**
 * Renders test/golden/fixtures/README.md: how the fixtures were made, plus the inventory
 * computed from the frames. Generated on every capture so it always describes the data.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { renderInventory, type ClientInventory } from './inventory.ts';

export interface ToolVersions {
  server: string;
  entries: Array<[string, string]>;
}

/** Installed versions, read from the package managers that installed them. */
export function collectVersions(serverVersion: string): ToolVersions {
  const debian = (pkg: string) => {
    try {
      return execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  // `java -version` prints to stderr.
  const javaVersion = spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr?.split('\n')[0]?.trim() || 'unknown';
  const require = createRequire(import.meta.url);
  const nodeClient = JSON.parse(readFileSync(require.resolve('node-zookeeper-client/package.json'), 'utf8')) as {
    version: string;
  };
  return {
    server: serverVersion,
    entries: [
      ['ZooKeeper server', `${serverVersion} (Debian zookeeper ${debian('zookeeper')})`],
      ['ZooKeeper Java client', `Debian libzookeeper-java ${debian('libzookeeper-java')}`],
      ['Curator', `Debian libcurator-framework-java ${debian('libcurator-framework-java')}`],
      ['kazoo', `Debian python3-kazoo ${debian('python3-kazoo')} (pure-sasl ${debian('python3-pure-sasl')})`],
      ['node-zookeeper-client', `npm ${nodeClient.version}`],
      ['JVM', javaVersion],
      ['Node.js', process.version],
    ],
  };
}

export function renderReadme(versions: ToolVersions, serverDescription: string, inventories: readonly ClientInventory[]): string {
  return `# Golden ZooKeeper wire traffic

Real client/server conversations, both directions, recorded on the wire between unmodified
client libraries and a real ZooKeeper ${versions.server} ensemble. They are the ground truth for the
proxy's codec and relay tests: every byte here was produced by software we did not write.

**Generated file** — rewritten by \`npm run capture:golden\` (\`node test/golden/capture/capture.ts\`).
Do not edit by hand; change the capture instead.

## Format

One JSON object per line, one line per frame, in the order the relay saw them (directions and
connections interleave as they did in time):

\`\`\`json
{"client":"java","conn":1,"dir":"c2s","seq":0,"hex":"0000002d..."}
\`\`\`

- \`client\`: the client program (also the file name).
- \`conn\`: connection number within that program's run, from 1. A reconnect is a new \`conn\`.
- \`dir\`: \`c2s\` client→server or \`s2c\` server→client.
- \`seq\`: index of the frame within its connection and direction, from 0. \`seq\` 0 is the
  ConnectRequest (\`c2s\`) or ConnectResponse (\`s2c\`), which have no header.
- \`hex\`: the whole frame **including** its 4-byte big-endian length prefix.

Session ids, passwords, zxids and timestamps differ on every capture; the sequence of
operations does not.

## How they were captured

\`test/golden/capture/capture.ts\` starts ${serverDescription}
(the \`LocalEnsemble\` fixture from \`src/embedded/ensemble.ts\`; tickTime 2000,
\`zookeeper.extendedTypesEnabled=true\`, \`zookeeper.enforceQuota=true\`, \`reconfigEnabled=true\`,
a super digest, and DIGEST-MD5 SASL via a JAAS \`Server\` section). For each client program it
starts a recording relay (\`recorder.ts\`) in front of one member and runs the program against it:

| client | program |
|---|---|
| java | \`clients/GoldenJava.java\`: ZooKeeper Java client (ZooKeeper, ZooKeeperAdmin) and Curator recipes; compiled with javac into a temp dir at capture time |
| kazoo | \`clients/golden_kazoo.py\`, run by /usr/bin/python3 |
| node-zookeeper-client | \`clients/golden_node.ts\` |

The programs ask the capture script (a \`@@golden <command>\` line on stdout, answered on stdin)
to drop every relayed connection, optionally parking new connections while they change watched
nodes through a session that bypasses the relay. The clients then reconnect and resume their
sessions, which records session resumption, auth replay and SetWatches/SetWatches2 together
with the catch-up notifications the server sends before the SetWatches reply.

Versions:

${versions.entries.map(([what, version]) => `- ${what}: ${version}`).join('\n')}

## What is not here, and why

- **deleteContainer (20)** and **createSession (-10)** are server-internal; no client sends them.
- **check (13)** outside a multi: no client API sends it (it appears inside multi bodies).
- **setWatches with xid -8**: only the C client and Java clients before 3.4.4 send it.
  node-zookeeper-client builds its SetWatches with -8 but overwrites the xid when sending, so
  every replay here uses an ordinary xid.
- **RECONFIGDISABLED (-123) / UNIMPLEMENTED (-6)** for reconfig: this ensemble has reconfig
  enabled, so reconfig gets real answers instead (NOAUTH without super rights, BADVERSION for a
  stale config version, BADARGUMENTS for a malformed server spec, and two successful changes
  that add and remove an observer and fire the getConfig watch).
- **NOWATCHER (-121)**: the Java client checks its own watch table first and throws locally
  without sending a request, and kazoo and node-zookeeper-client have no removeWatches.
- **kazoo 2.8 sends no SetWatches after a reconnect**: its watches are silently lost on the
  server (the capture records the missing event rather than asserting it).
- **NOAUTH right after setACL** is deliberately not provoked: the 3.8 leader's pending-change
  record for setACL keeps the old ACL, so a write that closely follows a restricting setACL can
  still pass. NOAUTH comes from nodes created with a restrictive ACL instead.

## Inventory

Computed from the frames by \`test/golden/capture/inventory.ts\` (header bytes, multi results and
notification event types).

${renderInventory(inventories)}
`;
}
