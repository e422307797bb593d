/**
 * ZooDefs.OpCode of ZooKeeper 3.9, one row per opcode: the request record after the
 * RequestHeader, the success response record after the ReplyHeader (null = no body), the first
 * release that knows it, and whether it may appear inside multi (write) or multiRead (read).
 * Multi result entries reuse the `response` column of their type (-1 = ErrorResponse).
 */
import * as R from './records.ts';
import type { RecordDef } from './schema.ts';

export interface OpcodeInfo {
  readonly code: number;
  readonly name: string;
  /** Record after the RequestHeader; null when the request has no body. */
  readonly request: RecordDef | null;
  /** Record after the ReplyHeader when err == 0; null when the reply has no body. */
  readonly response: RecordDef | null;
  /** First release whose ZooDefs.OpCode has it. */
  readonly since: string;
  /** Where it may appear as a sub-op: 'write' in multi (14), 'read' in multiRead (22). */
  readonly subOp?: 'write' | 'read';
  /** False for codes that are never a client request on the wire (server-internal or markers). */
  readonly clientRequest: boolean;
  /** True when the request changes the tree (the server refuses it in read-only mode). */
  readonly write: boolean;
}

function op(
  code: number,
  name: string,
  request: RecordDef | null,
  response: RecordDef | null,
  since: string,
  extra: Partial<Pick<OpcodeInfo, 'subOp' | 'clientRequest' | 'write'>> = {},
): OpcodeInfo {
  return { code, name, request, response, since, clientRequest: true, write: false, ...extra };
}

const W = { write: true } as const;

export const OPCODES: readonly OpcodeInfo[] = [
  op(0, 'notification', null, R.WatcherEvent, '3.0.0', { clientRequest: false }),
  op(1, 'create', R.CreateRequest, R.CreateResponse, '3.0.0', { ...W, subOp: 'write' }),
  op(2, 'delete', R.DeleteRequest, null, '3.0.0', { ...W, subOp: 'write' }),
  op(3, 'exists', R.ExistsRequest, R.ExistsResponse, '3.0.0'),
  op(4, 'getData', R.GetDataRequest, R.GetDataResponse, '3.0.0', { subOp: 'read' }),
  op(5, 'setData', R.SetDataRequest, R.SetDataResponse, '3.0.0', { ...W, subOp: 'write' }),
  op(6, 'getACL', R.GetACLRequest, R.GetACLResponse, '3.0.0'),
  op(7, 'setACL', R.SetACLRequest, R.SetACLResponse, '3.0.0', W),
  op(8, 'getChildren', R.GetChildrenRequest, R.GetChildrenResponse, '3.0.0', { subOp: 'read' }),
  op(9, 'sync', R.SyncRequest, R.SyncResponse, '3.0.0', W),
  op(11, 'ping', null, null, '3.0.0'),
  op(12, 'getChildren2', R.GetChildren2Request, R.GetChildren2Response, '3.3.0'),
  op(13, 'check', R.CheckVersionRequest, null, '3.4.0', { ...W, subOp: 'write' }),
  op(14, 'multi', R.MultiOperationRecord, R.MultiResponse, '3.4.0', W),
  op(15, 'create2', R.CreateRequest, R.Create2Response, '3.5.0', { ...W, subOp: 'write' }),
  op(16, 'reconfig', R.ReconfigRequest, R.GetDataResponse, '3.5.0', W),
  op(17, 'checkWatches', R.CheckWatchesRequest, null, '3.5.0'),
  op(18, 'removeWatches', R.RemoveWatchesRequest, null, '3.5.0'),
  op(19, 'createContainer', R.CreateRequest, R.Create2Response, '3.5.1', { ...W, subOp: 'write' }),
  op(20, 'deleteContainer', R.DeleteContainerRequest, null, '3.5.1', W),
  op(21, 'createTTL', R.CreateTTLRequest, R.Create2Response, '3.5.3', { ...W, subOp: 'write' }),
  op(22, 'multiRead', R.MultiOperationRecord, R.MultiResponse, '3.6.0'),
  op(100, 'auth', R.AuthPacket, null, '3.0.0'),
  op(101, 'setWatches', R.SetWatches, null, '3.0.0'),
  op(102, 'sasl', R.GetSASLRequest, R.SetSASLResponse, '3.4.0'),
  op(103, 'getEphemerals', R.GetEphemeralsRequest, R.GetEphemeralsResponse, '3.6.0'),
  op(104, 'getAllChildrenNumber', R.GetAllChildrenNumberRequest, R.GetAllChildrenNumberResponse, '3.6.0'),
  op(105, 'setWatches2', R.SetWatches2, null, '3.6.0'),
  op(106, 'addWatch', R.AddWatchRequest, R.ErrorResponse, '3.6.0'),
  op(107, 'whoAmI', null, R.WhoAmIResponse, '3.7.0'),
  op(-10, 'createSession', null, null, '3.0.0', { clientRequest: false }),
  op(-11, 'closeSession', null, null, '3.0.0', W),
  op(-1, 'error', null, R.ErrorResponse, '3.0.0', { clientRequest: false }),
];

export const OpCode = {
  notification: 0,
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  setACL: 7,
  getChildren: 8,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  create2: 15,
  reconfig: 16,
  checkWatches: 17,
  removeWatches: 18,
  createContainer: 19,
  deleteContainer: 20,
  createTTL: 21,
  multiRead: 22,
  auth: 100,
  setWatches: 101,
  sasl: 102,
  getEphemerals: 103,
  getAllChildrenNumber: 104,
  setWatches2: 105,
  addWatch: 106,
  whoAmI: 107,
  createSession: -10,
  closeSession: -11,
  error: -1,
} as const;

export type OpCodeName = keyof typeof OpCode;

// Dense lookup: opcodes span -11..107, so an array indexed by code+OFFSET beats a Map on the hot path.
const OFFSET = 16;
const byCode: (OpcodeInfo | undefined)[] = new Array(128 + OFFSET).fill(undefined);
for (const info of OPCODES) byCode[info.code + OFFSET] = info;

export function opcodeInfo(code: number): OpcodeInfo | undefined {
  return byCode[code + OFFSET];
}

export function opcodeName(code: number): string {
  return byCode[code + OFFSET]?.name ?? `unknown(${code})`;
}

/** Special xids of the client protocol. */
export const Xid = {
  notification: -1,
  ping: -2,
  auth: -4,
  setWatches: -8,
} as const;
