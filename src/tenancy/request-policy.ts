/**
 * Opcodes a tenant may not send to the shared ensemble, and what it gets instead. Each answer is
 * a ZooKeeper error code the client library already understands.
 */
import { ErrorCode, OpCode, opcodeInfo } from 'jute-ts';

export interface Refusal {
  code: number;
  /** Close the connection after the answer (what ZooKeeper itself does for these cases). */
  close: boolean;
  reason: string;
}

const RECONFIG: Refusal = { code: ErrorCode.RECONFIGDISABLED, close: false, reason: 'reconfig changes the shared ensemble' };
const DELETE_CONTAINER: Refusal = { code: ErrorCode.NOAUTH, close: false, reason: 'deleteContainer is internal to the server' };
const SASL: Refusal = { code: ErrorCode.AUTHFAILED, close: true, reason: 'SASL is not enabled on this proxy' };
const UNKNOWN: Refusal = { code: ErrorCode.UNIMPLEMENTED, close: true, reason: 'not a client request' };

export interface RequestPolicyOptions {
  allowSasl: boolean;
}

/** The refusal for `opcode`, or undefined when it may be forwarded. */
export function refusalFor(opcode: number, options: RequestPolicyOptions): Refusal | undefined {
  const info = opcodeInfo(opcode);
  if (info === undefined || !info.clientRequest) return UNKNOWN; // also createSession, notification, error
  switch (opcode) {
    case OpCode.reconfig:
      return RECONFIG;
    case OpCode.deleteContainer:
      return DELETE_CONTAINER;
    case OpCode.sasl:
      return options.allowSasl ? undefined : SASL;
    default:
      return undefined;
  }
}
