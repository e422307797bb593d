import { describe, expect, it } from 'vitest';
import { ErrorCode, OPCODES, OpCode, Xid, type OpCodeName } from 'jute-ts';
import { OP_POLICIES, opPolicy, refusalOf } from '../src/session/op-policy.ts';

describe('the opcode policy table', () => {
  it('has exactly one row per opcode of the codec, and the lookup by code finds it', () => {
    expect(Object.keys(OP_POLICIES).sort()).toEqual(OPCODES.map((info) => info.name).sort());
    for (const info of OPCODES) expect(opPolicy(info.code)).toBe(OP_POLICIES[info.name as OpCodeName]);
  });

  it('refuses what is not a client request, and codes no release knows, with UNIMPLEMENTED and a close', () => {
    for (const info of OPCODES.filter((op) => !op.clientRequest)) {
      expect(refusalOf(opPolicy(info.code), { allowSasl: true })).toMatchObject({ code: ErrorCode.UNIMPLEMENTED, close: true });
    }
    for (const code of [10, 23, 99, 108, 127, -12, 1000, -1000])
      expect(refusalOf(opPolicy(code), { allowSasl: true })).toMatchObject({ code: ErrorCode.UNIMPLEMENTED, close: true });
  });

  it('forwards every client request except reconfig, deleteContainer and (unless allowed) SASL', () => {
    const refused = OPCODES.filter((op) => op.clientRequest && refusalOf(opPolicy(op.code), { allowSasl: false }) !== undefined).map(
      (op) => op.name,
    );
    expect(refused.sort()).toEqual(['deleteContainer', 'reconfig', 'sasl']);
    expect(refusalOf(opPolicy(OpCode.reconfig), { allowSasl: false })?.code).toBe(ErrorCode.RECONFIGDISABLED);
    expect(refusalOf(opPolicy(OpCode.deleteContainer), { allowSasl: false })?.code).toBe(ErrorCode.NOAUTH);
    expect(refusalOf(opPolicy(OpCode.sasl), { allowSasl: false })).toMatchObject({ code: ErrorCode.AUTHFAILED, close: true });
    expect(refusalOf(opPolicy(OpCode.sasl), { allowSasl: true })).toBeUndefined();
  });

  it('never holds ping, auth and closeSession; only ping is answered under another xid; only closeSession ends the session', () => {
    const never = OPCODES.filter((op) => opPolicy(op.code).held === 'never').map((op) => op.name);
    expect(never.sort()).toEqual(['auth', 'closeSession', 'ping']);
    expect(OPCODES.filter((op) => opPolicy(op.code).replyXid !== undefined).map((op) => [op.name, opPolicy(op.code).replyXid])).toEqual([
      ['ping', Xid.ping],
    ]);
    expect(OPCODES.filter((op) => opPolicy(op.code).endsSession === true).map((op) => op.name)).toEqual(['closeSession']);
  });

  it('names the watch effect of every opcode that registers or removes watches, and no other', () => {
    const effects = Object.fromEntries(
      OPCODES.filter((op) => opPolicy(op.code).watches !== 'none').map((op) => [op.name, opPolicy(op.code).watches]),
    );
    expect(effects).toEqual({
      exists: 'data-flag',
      getData: 'data-flag',
      getChildren: 'child-flag',
      getChildren2: 'child-flag',
      checkWatches: 'remove',
      removeWatches: 'remove',
      setWatches: 'replay',
      setWatches2: 'replay',
      addWatch: 'add',
    });
  });
});
