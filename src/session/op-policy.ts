/**
 * What the proxy does with each opcode, one row per entry of the codec's opcode table. The table
 * is a Record over every opcode name, so an opcode added to `jute-ts` does not compile here until
 * each decision below is made for it. The session's stages read their per-opcode behaviour only
 * from this table.
 */
import { ErrorCode, OpCode, opcodeInfo, OPCODES, Xid, type OpCodeName } from 'jute-ts';
import type { WatchEffect } from '../limits/watch-ledger.ts';

/** An opcode the proxy answers itself instead of forwarding. */
export interface Refusal {
  readonly code: number;
  /** Close the connection after the answer (what ZooKeeper itself does for these cases). */
  readonly close: boolean;
  readonly reason: string;
}

export interface OpPolicy {
  /** `never`: limits do not hold it back (ping, auth and closeSession keep a session alive, authenticated and closable). */
  readonly held: 'may-wait' | 'never';
  readonly watches: WatchEffect;
  /** Answered by the proxy with this error instead of being forwarded. */
  readonly refusal?: Refusal;
  /** The refusal does not apply when this proxy option is on. */
  readonly refusalLiftedBy?: 'allowSasl';
  /** Looked at beyond path and ACL mapping before it goes: a client's addAuth names identities. */
  readonly inspect?: 'auth';
  /** `own-identities`: the reply lists identities and is rewritten to the client's own (whoAmI). */
  readonly reply: 'mapped' | 'own-identities';
  /** The xid its reply carries when that is not the request's own (ZooKeeper answers every ping with -2). */
  readonly replyXid?: number;
  /** Nothing the client sends after it is forwarded. */
  readonly endsSession?: true;
}

const RELAYED: OpPolicy = { held: 'may-wait', watches: 'none', reply: 'mapped' };
const NOT_A_REQUEST: OpPolicy = { ...RELAYED, refusal: { code: ErrorCode.UNIMPLEMENTED, close: true, reason: 'not a client request' } };

export const OP_POLICIES = {
  notification: NOT_A_REQUEST,
  create: RELAYED,
  delete: RELAYED,
  exists: { ...RELAYED, watches: 'data-flag' },
  getData: { ...RELAYED, watches: 'data-flag' },
  setData: RELAYED,
  getACL: RELAYED,
  setACL: RELAYED,
  getChildren: { ...RELAYED, watches: 'child-flag' },
  sync: RELAYED,
  ping: { ...RELAYED, held: 'never', replyXid: Xid.ping },
  getChildren2: { ...RELAYED, watches: 'child-flag' },
  check: RELAYED,
  multi: RELAYED,
  create2: RELAYED,
  reconfig: { ...RELAYED, refusal: { code: ErrorCode.RECONFIGDISABLED, close: false, reason: 'reconfig changes the shared ensemble' } },
  checkWatches: { ...RELAYED, watches: 'remove' },
  removeWatches: { ...RELAYED, watches: 'remove' },
  createContainer: RELAYED,
  deleteContainer: { ...RELAYED, refusal: { code: ErrorCode.NOAUTH, close: false, reason: 'deleteContainer is internal to the server' } },
  createTTL: RELAYED,
  multiRead: RELAYED,
  auth: { ...RELAYED, held: 'never', inspect: 'auth' },
  setWatches: { ...RELAYED, watches: 'replay' },
  sasl: {
    ...RELAYED,
    refusal: { code: ErrorCode.AUTHFAILED, close: true, reason: 'SASL is not enabled on this proxy' },
    refusalLiftedBy: 'allowSasl',
  },
  getEphemerals: RELAYED,
  getAllChildrenNumber: RELAYED,
  setWatches2: { ...RELAYED, watches: 'replay' },
  addWatch: { ...RELAYED, watches: 'add' },
  whoAmI: { ...RELAYED, reply: 'own-identities' },
  createSession: NOT_A_REQUEST,
  closeSession: { ...RELAYED, held: 'never', endsSession: true },
  error: NOT_A_REQUEST,
} as const satisfies Record<OpCodeName, OpPolicy>;

/** Codes no client of any release sends (unknown to ZooKeeper 3.9): answered like the server does. */
const UNKNOWN_OPCODE_POLICY: OpPolicy = NOT_A_REQUEST;

// Dense lookup like the codec's: opcodes span -11..107.
const OFFSET = 16;
const byCode: OpPolicy[] = new Array<OpPolicy>(128 + OFFSET).fill(UNKNOWN_OPCODE_POLICY);
for (const info of OPCODES) byCode[info.code + OFFSET] = OP_POLICIES[info.name as OpCodeName];

export function opPolicy(opcode: number): OpPolicy {
  return byCode[opcode + OFFSET] ?? UNKNOWN_OPCODE_POLICY;
}

/** The refusal for `opcode` under these options, or undefined when it is forwarded. */
export function refusalOf(policy: OpPolicy, options: { allowSasl: boolean }): Refusal | undefined {
  if (policy.refusal === undefined) return undefined;
  return policy.refusalLiftedBy === 'allowSasl' && options.allowSasl ? undefined : policy.refusal;
}

// The watch stage reads the trailing scalar of these requests without decoding them: checked here,
// against the codec's own records, so a change of record layout fails at start-up, not silently.
function assertTrailingField(opcode: number, name: string, kind: 'bool' | 'int'): void {
  const entries = opcodeInfo(opcode)?.request?.entries ?? [];
  const last = entries[entries.length - 1];
  if (last === undefined || last[0] !== name || last[1].kind !== kind) {
    throw new Error(`op-policy: the ${opcodeInfo(opcode)?.name} request no longer ends with the ${kind} ${name}`);
  }
}
for (const [name, policy] of Object.entries(OP_POLICIES) as [OpCodeName, OpPolicy][]) {
  const code = OpCode[name];
  if (policy.watches === 'data-flag' || policy.watches === 'child-flag') assertTrailingField(code, 'watch', 'bool');
  if (policy.watches === 'add') assertTrailingField(code, 'mode', 'int');
  if (policy.watches === 'remove') assertTrailingField(code, 'type', 'int');
}
