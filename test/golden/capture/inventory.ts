/**
 * What the golden fixtures contain, derived from the frames themselves (header bytes only, plus
 * multi results and notification types), so the README cannot drift from the data.
 *
 * Usage: node test/golden/capture/inventory.ts [fixtures-dir]   (prints Markdown)
 *
 * Layouts read here (offsets include the 4-byte length prefix):
 *   request  : len | xid int32 @4 | opcode int32 @8 | body @12
 *   reply    : len | xid int32 @4 | zxid int64 @8 | err int32 @16 | body @20
 *   seq 0 of each connection and direction is ConnectRequest / ConnectResponse (no header).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FrameRecord } from './recorder.ts';

export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'notification',
  1: 'create',
  2: 'delete',
  3: 'exists',
  4: 'getData',
  5: 'setData',
  6: 'getACL',
  7: 'setACL',
  8: 'getChildren',
  9: 'sync',
  11: 'ping',
  12: 'getChildren2',
  13: 'check',
  14: 'multi',
  15: 'create2',
  16: 'reconfig',
  17: 'checkWatches',
  18: 'removeWatches',
  19: 'createContainer',
  20: 'deleteContainer',
  21: 'createTTL',
  22: 'multiRead',
  100: 'auth',
  101: 'setWatches',
  102: 'sasl',
  103: 'getEphemerals',
  104: 'getAllChildrenNumber',
  105: 'setWatches2',
  106: 'addWatch',
  107: 'whoAmI',
  [-10]: 'createSession',
  [-11]: 'closeSession',
  [-1]: 'error',
};

export const ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'OK',
  [-2]: 'RUNTIMEINCONSISTENCY',
  [-3]: 'DATAINCONSISTENCY',
  [-5]: 'MARSHALLINGERROR',
  [-6]: 'UNIMPLEMENTED',
  [-8]: 'BADARGUMENTS',
  [-13]: 'NEWCONFIGNOQUORUM',
  [-14]: 'RECONFIGINPROGRESS',
  [-101]: 'NONODE',
  [-102]: 'NOAUTH',
  [-103]: 'BADVERSION',
  [-108]: 'NOCHILDRENFOREPHEMERALS',
  [-110]: 'NODEEXISTS',
  [-111]: 'NOTEMPTY',
  [-112]: 'SESSIONEXPIRED',
  [-114]: 'INVALIDACL',
  [-115]: 'AUTHFAILED',
  [-118]: 'SESSIONMOVED',
  [-119]: 'NOTREADONLY',
  [-120]: 'EPHEMERALONLOCALSESSION',
  [-121]: 'NOWATCHER',
  [-123]: 'RECONFIGDISABLED',
  [-124]: 'SESSIONCLOSEDREQUIRESASLAUTH',
  [-125]: 'QUOTAEXCEEDED',
  [-127]: 'THROTTLEDOP',
};

const EVENT_NAMES: Readonly<Record<number, string>> = {
  1: 'NodeCreated',
  2: 'NodeDeleted',
  3: 'NodeDataChanged',
  4: 'NodeChildrenChanged',
};

/** Every opcode the ZooKeeper 3.8 Java client can put on the wire (sasl needs JAAS; see README). */
export const JAVA_CLIENT_OPCODES: readonly number[] = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104, 105, 106, 107, -11,
];

const XID_NOTIFICATION = -1;
const XID_PING = -2;
const XID_AUTH = -4;
const STAT_BYTES = 68;

export interface ClientInventory {
  client: string;
  frames: number;
  connections: number;
  c2s: number;
  s2c: number;
  /** opcode -> number of request frames */
  opcodes: Map<number, number>;
  /** err -> opcodes it answered -> count (err != 0 in the reply header) */
  replyErrors: Map<number, Map<number, number>>;
  /** err -> count, from ErrorResults inside multi / multiRead replies (OK entries excluded) */
  multiResultErrors: Map<number, number>;
  /** event type -> count */
  notifications: Map<number, number>;
  pings: number;
  pingReplies: number;
  authRequests: number;
  /** xids the setWatches requests used: -8 (old clients) or ordinary ones (Java 3.4.4+) */
  setWatchesXids: Map<string, number>;
  newSessions: number;
  resumedSessions: number;
  /** ConnectRequests of the 3.3 layout (44-byte payload, no trailing readOnly byte) */
  connectsWithoutReadOnly: number;
}

export function inventoryOf(client: string, records: readonly FrameRecord[]): ClientInventory {
  const result: ClientInventory = {
    client,
    frames: records.length,
    connections: new Set(records.map((r) => r.conn)).size,
    c2s: 0,
    s2c: 0,
    opcodes: new Map(),
    replyErrors: new Map(),
    multiResultErrors: new Map(),
    notifications: new Map(),
    pings: 0,
    pingReplies: 0,
    authRequests: 0,
    setWatchesXids: new Map(),
    newSessions: 0,
    resumedSessions: 0,
    connectsWithoutReadOnly: 0,
  };
  // Per connection: xid -> opcode of the request, to know what a reply answers.
  const pending = new Map<number, Map<number, number>>();

  for (const record of records) {
    const frame = Buffer.from(record.hex, 'hex');
    if (record.dir === 'c2s') {
      result.c2s++;
      if (record.seq === 0) {
        const sessionId = frame.readBigInt64BE(20);
        if (sessionId === 0n) result.newSessions++;
        else result.resumedSessions++;
        if (frame.length - 4 === 44) result.connectsWithoutReadOnly++;
        continue;
      }
      const xid = frame.readInt32BE(4);
      const opcode = frame.readInt32BE(8);
      increment(result.opcodes, opcode);
      if (opcode === 11) result.pings++;
      if (opcode === 100) result.authRequests++;
      if (opcode === 101 || opcode === 105) {
        increment(result.setWatchesXids, `${OPCODE_NAMES[opcode]} xid ${xid === -8 ? '-8' : 'ordinary'}`);
      }
      let byXid = pending.get(record.conn);
      if (!byXid) pending.set(record.conn, (byXid = new Map()));
      byXid.set(xid, opcode);
      continue;
    }

    result.s2c++;
    if (record.seq === 0) continue; // ConnectResponse
    const xid = frame.readInt32BE(4);
    const err = frame.readInt32BE(16);
    if (xid === XID_NOTIFICATION) {
      increment(result.notifications, frame.readInt32BE(20));
      continue;
    }
    if (xid === XID_PING) {
      result.pingReplies++;
      continue;
    }
    const opcode = xid === XID_AUTH ? 100 : pending.get(record.conn)?.get(xid);
    if (opcode === undefined) continue;
    if (err !== 0) {
      let byOpcode = result.replyErrors.get(err);
      if (!byOpcode) result.replyErrors.set(err, (byOpcode = new Map()));
      increment(byOpcode, opcode);
    } else if (opcode === 14 || opcode === 22) {
      for (const subErr of multiResultErrors(frame)) if (subErr !== 0) increment(result.multiResultErrors, subErr);
    }
  }
  return result;
}

/** Walks a MultiResponse body and returns the code of every ErrorResult in it. */
function multiResultErrors(frame: Buffer): number[] {
  const errors: number[] = [];
  let offset = 20;
  const skipString = () => {
    const length = frame.readInt32BE(offset);
    offset += 4 + Math.max(length, 0);
  };
  for (;;) {
    const type = frame.readInt32BE(offset);
    const done = frame.readUInt8(offset + 4) !== 0;
    offset += 9; // MultiHeader: int type, bool done, int err
    if (done) return errors;
    switch (type) {
      case -1:
        errors.push(frame.readInt32BE(offset));
        offset += 4;
        break;
      case 1:
        skipString();
        break; // CreateResponse
      case 15:
        skipString();
        offset += STAT_BYTES;
        break; // Create2Response (also container, TTL)
      case 5:
        offset += STAT_BYTES;
        break; // SetDataResponse
      case 2:
      case 13:
        break; // delete, check: no body
      case 4:
        skipString();
        offset += STAT_BYTES;
        break; // GetDataResponse: buffer data, Stat
      case 8: {
        // GetChildrenResponse: vector<ustring>
        const count = frame.readInt32BE(offset);
        offset += 4;
        for (let i = 0; i < count; i++) skipString();
        break;
      }
      default:
        throw new Error(`unexpected multi result type ${type}`);
    }
  }
}

function increment<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

// ---------------------------------------------------------------- Markdown

const opName = (op: number) => OPCODE_NAMES[op] ?? `unknown(${op})`;
const errName = (err: number) => ERROR_NAMES[err] ?? `unknown(${err})`;
const byKey = <K extends number | string>(map: Map<K, unknown>) =>
  [...map.keys()].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b))));

export function renderInventory(inventories: readonly ClientInventory[]): string {
  const total = inventories.reduce((sum, inv) => sum + inv.frames, 0);
  const out: string[] = [];
  out.push(`Total: **${total} frames** in ${inventories.length} files.`, '');
  out.push('| client | frames | connections | c2s | s2c | new sessions | resumed sessions |');
  out.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const inv of inventories) {
    out.push(
      `| ${inv.client} | ${inv.frames} | ${inv.connections} | ${inv.c2s} | ${inv.s2c} | ${inv.newSessions} | ${inv.resumedSessions} |`,
    );
  }
  for (const inv of inventories) {
    out.push('', `### ${inv.client}`, '');
    out.push(
      `Request opcodes (c2s): ${byKey(inv.opcodes)
        .map((op) => `${op} ${opName(op)} (${inv.opcodes.get(op)})`)
        .join(', ')}.`,
      '',
    );
    const errors = byKey(inv.replyErrors).map((err) => {
      const answered = byKey(inv.replyErrors.get(err)!)
        .map((op) => `${opName(op)}×${inv.replyErrors.get(err)!.get(op)}`)
        .join(', ');
      return `${err} ${errName(err)} (${answered})`;
    });
    out.push(`Error replies (ReplyHeader.err): ${errors.length > 0 ? errors.join('; ') : 'none'}.`, '');
    const subErrors = byKey(inv.multiResultErrors).map((err) => `${err} ${errName(err)} ×${inv.multiResultErrors.get(err)}`);
    out.push(`Errors inside multi/multiRead results: ${subErrors.length > 0 ? subErrors.join(', ') : 'none'}.`, '');
    const events = byKey(inv.notifications).map((type) => `${EVENT_NAMES[type] ?? type} ×${inv.notifications.get(type)}`);
    const notificationCount = [...inv.notifications.values()].reduce((a, b) => a + b, 0);
    const setWatches = byKey(inv.setWatchesXids).map((key) => `${key} ×${inv.setWatchesXids.get(key)}`);
    out.push(
      `| notifications (xid -1) | pings (xid -2) req/reply | auth (xid -4) | setWatches (101) | setWatches2 (105) |`,
      `|---|---|---:|---:|---:|`,
      `| ${notificationCount}: ${events.join(', ') || '-'} | ${inv.pings}/${inv.pingReplies} | ${inv.authRequests} | ${inv.opcodes.get(101) ?? 0} | ${inv.opcodes.get(105) ?? 0} |`,
      '',
    );
    if (setWatches.length > 0) out.push(`Watch replay requests by xid kind: ${setWatches.join(', ')}.`, '');
    if (inv.connectsWithoutReadOnly > 0) {
      out.push(
        `ConnectRequests without the trailing readOnly byte (3.3 layout): ${inv.connectsWithoutReadOnly} of ${inv.connections}.`,
        '',
      );
    }
  }
  // Sections end with a blank line and also start with one; keep a single one between them.
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd();
}

// ---------------------------------------------------------------- files

export function readFixture(file: string): FrameRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as FrameRecord);
}

export function inventoryOfDirectory(dir: string): ClientInventory[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.jsonl'))
    .sort()
    .map((file) => inventoryOf(basename(file, '.jsonl'), readFixture(join(dir, file))));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
  console.log(renderInventory(inventoryOfDirectory(dir)));
}
