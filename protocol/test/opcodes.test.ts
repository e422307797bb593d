// The opcode and error tables against ZooKeeper's own ZooDefs.OpCode and KeeperException.Code,
// read by reflection from Debian's jars (3.8 has every opcode of 3.9: no opcode was added since 3.7).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OPCODES, OpCode, opcodeInfo } from 'jute-ts';

const CLASSPATH = ['/usr/share/java/zookeeper.jar', '/usr/share/java/zookeeper-jute.jar', '/usr/share/java/slf4j-api.jar'].join(':');

let reference: { opcodes: Record<string, number>; errors: Record<string, number>; version: string };
let workDir: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'zkdefs-'));
  const source = join(import.meta.dirname, 'zookeeper-reference', 'DumpZooDefs.java');
  execFileSync('javac', ['-cp', CLASSPATH, '-d', workDir, source]);
  reference = JSON.parse(execFileSync('java', ['-cp', `${CLASSPATH}:${workDir}`, 'DumpZooDefs'], { encoding: 'utf8' }));
}, 60_000);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe("the opcode table covers ZooKeeper's ZooDefs.OpCode", () => {
  it('read the reference from a real 3.8 jar', () => {
    expect(reference.version).toMatch(/^3\.8\./);
    expect(Object.keys(reference.opcodes).length).toBeGreaterThanOrEqual(30);
  });

  it('every ZooKeeper opcode has a row with the same code, and a request and response codec decision', () => {
    const missing: string[] = [];
    for (const [name, code] of Object.entries(reference.opcodes)) {
      const info = opcodeInfo(code);
      if (info === undefined) {
        missing.push(`${name}=${code}`);
        continue;
      }
      // ZooKeeper spells getChildren2 etc. the same; 'closeSession' and 'createSession' too.
      expect(info.name.toLowerCase(), `name of opcode ${code}`).toBe(name.toLowerCase());
      expect(info.request === null || typeof info.request.name === 'string').toBe(true);
      expect(info.response === null || typeof info.response.name === 'string').toBe(true);
      // Opcodes a client sends with a body must have a request record.
      const bodyless = ['ping', 'closeSession', 'whoAmI', 'notification', 'createSession', 'error'];
      if (info.clientRequest && !bodyless.includes(info.name)) expect(info.request, `${name} request record`).not.toBeNull();
    }
    expect(missing).toEqual([]);
  });

  it('has no row that ZooKeeper does not define', () => {
    const codes = new Set(Object.values(reference.opcodes));
    expect(OPCODES.filter((info) => !codes.has(info.code)).map((info) => info.name)).toEqual([]);
  });

  it('OpCode constants agree with the table', () => {
    for (const [name, code] of Object.entries(OpCode)) expect(opcodeInfo(code)?.name).toBe(name);
    expect(Object.keys(OpCode).length).toBe(OPCODES.length);
  });

  it('every op kind that may appear in multi or multiRead has both records for its entries', () => {
    const writeOps = OPCODES.filter((i) => i.subOp === 'write').map((i) => i.name);
    const readOps = OPCODES.filter((i) => i.subOp === 'read').map((i) => i.name);
    expect(writeOps.sort()).toEqual(['check', 'create', 'create2', 'createContainer', 'createTTL', 'delete', 'setData']);
    expect(readOps.sort()).toEqual(['getChildren', 'getData']);
  });
});

describe('the error table covers KeeperException.Code', () => {
  it('every ZooKeeper code is known with the same name and value', () => {
    const ours = ErrorCode as Record<string, number>;
    const differences = Object.entries(reference.errors).filter(([name, code]) => ours[name] !== code);
    expect(differences).toEqual([]);
  });
});
