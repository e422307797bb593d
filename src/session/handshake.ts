/**
 * The session handshake as the tenant sees it: the client's ConnectRequest checked and, for a
 * resumed session, its sealed password opened for this tenant only; the ensemble's
 * ConnectResponse relayed with the password sealed for the tenant.
 */
import {
  decodeConnectRequest,
  decodeConnectResponse,
  encodeConnectRequest,
  encodeConnectResponse,
  ProtocolError,
  SESSION_PASSWORD_LENGTH,
} from 'jute-ts';
import { sessionHex } from '../observability/logger.ts';
import type { SessionSeal } from '../tenancy/session-seal.ts';

export type ConnectVerdict =
  /** Forward `frame` (the client's request, its password unsealed) to the ensemble. */
  | { readonly forward: Buffer; readonly resumed: boolean; readonly sessionId: bigint; readonly timeOut: number }
  /** Answer "session expired" and close, as ZooKeeper would. */
  | { readonly expired: string };

/** Throws ProtocolError for anything that is not a ZooKeeper client's ConnectRequest. */
/** `seal`: the tenant's seal on the ensemble the session goes to (Tenant.sealOn). */
export function readConnectRequest(frame: Buffer, seal: SessionSeal): ConnectVerdict {
  const request = decodeConnectRequest(frame);
  // Every client sends a 16-byte password (zeros for a new session) and nothing after readOnly;
  // anything else is not a ZooKeeper client (a request sent before the handshake, for one).
  if (request.passwd?.length !== SESSION_PASSWORD_LENGTH || request.extra !== undefined) {
    throw new ProtocolError('invalidValue', 'not a ConnectRequest (password must be 16 bytes, nothing may follow readOnly)');
  }
  const common = { sessionId: request.sessionId, timeOut: request.timeOut };
  if (request.sessionId === 0n) return { forward: Buffer.from(frame), resumed: false, ...common };
  // A resumed session's password was sealed for this tenant on this ensemble. Anything else
  // (another tenant's sealed password, a guess, the ensemble's raw one, a session on the
  // ensemble the tenant moved from) is answered "expired" here, as ZooKeeper would: forwarded, it
  // would make ZooKeeper drop the session's live connection first.
  const passwd = seal.unsealFor(request.sessionId, request.passwd);
  if (passwd === undefined)
    return { expired: `resume of ${sessionHex(request.sessionId)} with a password not sealed for this tenant on this ensemble` };
  return { forward: encodeConnectRequest({ ...request, passwd }), resumed: true, ...common };
}

/** ZooKeeper's answer to a session it does not know: timeout 0, the client reports it expired. */
export function expiredConnectResponse(): Buffer {
  return encodeConnectResponse({
    protocolVersion: 0,
    timeOut: 0,
    sessionId: 0n,
    passwd: Buffer.alloc(SESSION_PASSWORD_LENGTH),
    readOnly: false,
  });
}

/** Where a ConnectResponse's password bytes start: prefix, protocolVersion, timeOut, sessionId, the buffer's length. */
const PASSWORD_OFFSET = 4 + 4 + 4 + 8 + 4;

/** The ensemble's ConnectResponse with its password sealed for the tenant (only the tenant can resume the session). */
export function sealedConnectResponse(responseFrame: Buffer, seal: SessionSeal): Buffer {
  // The usual answer (a 16-byte password, readOnly or not, nothing after it): the sealed password
  // replaces the ensemble's in a copy, the bytes encodeConnectResponse would produce.
  const end = PASSWORD_OFFSET + SESSION_PASSWORD_LENGTH;
  if (
    (responseFrame.length === end || responseFrame.length === end + 1) &&
    responseFrame.readInt32BE(PASSWORD_OFFSET - 4) === SESSION_PASSWORD_LENGTH
  ) {
    const sealed = Buffer.from(responseFrame);
    seal.seal(responseFrame.subarray(PASSWORD_OFFSET, end)).copy(sealed, PASSWORD_OFFSET);
    return sealed;
  }
  const response = decodeConnectResponse(responseFrame);
  return encodeConnectResponse({ ...response, passwd: seal.seal(response.passwd ?? Buffer.alloc(0)) });
}
