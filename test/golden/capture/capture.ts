/**
 * Captures golden ZooKeeper wire traffic: `npm run capture:golden`.
 *
 *   node test/golden/capture/capture.ts [client ...]
 *
 * Starts a real ZooKeeper ensemble, then runs each client program (default: all) through its
 * own recording relay and writes test/golden/fixtures/<client>.jsonl, then regenerates the
 * fixtures README with the inventory. Any client failure, framing problem or missing Java
 * opcode fails the run with a non-zero exit, and fixtures are only written for clients that
 * completed, so a broken run never leaves half-captured files behind.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runClient } from './client-process.ts';
import { GOLDEN_CLIENTS, type GoldenClient } from './clients.ts';
import { inventoryOf, inventoryOfDirectory, JAVA_CLIENT_OPCODES, OPCODE_NAMES } from './inventory.ts';
import { collectVersions, renderReadme } from './readme.ts';
import { RecordingRelay, type FrameRecord } from './recorder.ts';
import { startGoldenServer, type GoldenServer } from './server.ts';

const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
/** Keeps fixture diffs reviewable; a capture this big means a client is looping. */
const MAX_FIXTURE_BYTES = 1024 * 1024;
/** Lets the last replies (e.g. to closeSession) cross the relay before it is torn down. */
const SETTLE_MS = 300;

async function captureClient(client: GoldenClient, server: GoldenServer, workDir: string): Promise<FrameRecord[]> {
  const records: FrameRecord[] = [];
  const relay = await RecordingRelay.start({
    client: client.name,
    target: { host: '127.0.0.1', port: server.clientPort },
    onFrame: (record) => records.push(record),
    log: (message) => console.log(message),
  });
  try {
    const command = client.prepare(workDir, server, relay.connectString);
    console.log(`== ${client.name}: running through relay ${relay.connectString}`);
    await runClient(command, relay, join(workDir, `${client.name}.stderr.log`));
    await sleep(SETTLE_MS);
  } finally {
    await relay.close();
  }
  if (relay.errors.length > 0) throw new Error(`${client.name}: recording problems:\n${relay.errors.join('\n')}`);
  return records;
}

function writeFixture(name: string, records: readonly FrameRecord[]): void {
  const file = join(FIXTURES_DIR, `${name}.jsonl`);
  // Explicit key order: the documented record layout, whatever order the objects were built in.
  const lines = records.map(({ client, conn, dir, seq, hex }) => JSON.stringify({ client, conn, dir, seq, hex }));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const size = statSync(file).size;
  if (size > MAX_FIXTURE_BYTES) throw new Error(`${file} is ${size} bytes, over the ${MAX_FIXTURE_BYTES} limit`);
  console.log(`== ${name}: ${records.length} frames -> ${file} (${size} bytes)`);
}

function assertJavaCoverage(records: readonly FrameRecord[]): void {
  const seen = inventoryOf('java', records).opcodes;
  const missing = JAVA_CLIENT_OPCODES.filter((opcode) => !seen.has(opcode));
  if (missing.length > 0) {
    throw new Error(`java capture lacks opcodes: ${missing.map((op) => `${op} ${OPCODE_NAMES[op]}`).join(', ')}`);
  }
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !GOLDEN_CLIENTS.some((client) => client.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown client(s) ${unknown.join(', ')}; known: ${GOLDEN_CLIENTS.map((c) => c.name).join(', ')}`);
  }
  const clients = wanted.length === 0 ? GOLDEN_CLIENTS : GOLDEN_CLIENTS.filter((client) => wanted.includes(client.name));

  const workDir = mkdtempSync(join(tmpdir(), 'golden-capture-'));
  const server = await startGoldenServer(workDir);
  console.log(`== server: ${server.description}`);
  let succeeded = false;
  try {
    for (const client of clients) {
      const records = await captureClient(client, server, workDir);
      if (client.name === 'java') assertJavaCoverage(records);
      writeFixture(client.name, records);
    }
    const versions = collectVersions(server.version);
    writeFileSync(join(FIXTURES_DIR, 'README.md'), renderReadme(versions, server.description, inventoryOfDirectory(FIXTURES_DIR)));
    console.log(`== README.md written; total ${inventoryOfDirectory(FIXTURES_DIR).reduce((n, inv) => n + inv.frames, 0)} frames`);
    succeeded = true;
  } finally {
    await server.close();
    // Keep the client logs of a failed run for diagnosis.
    if (succeeded) rmSync(workDir, { recursive: true, force: true });
    else console.error(`== work directory kept for diagnosis: ${workDir}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
