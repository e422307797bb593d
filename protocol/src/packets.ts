/**
 * Whole frames: the handshake records, requests (RequestHeader + body) and replies (ReplyHeader +
 * body). Which body follows is looked up in the opcode table; a reply's body depends on the
 * opcode of the request it answers, which the caller gets from a ConversationTracker.
 */
import { decodeRecord, encodeRecord, sizeRecord } from './codec.ts';
import { ErrorCode, SESSION_PASSWORD_LENGTH } from './constants.ts';
import { ProtocolError } from './errors.ts';
import { checkFrame, LENGTH_PREFIX, sealFrame } from './frames.ts';
import { JuteReader, JuteWriter } from './jute.ts';
import { opcodeInfo, OpCode, Xid } from './opcodes.ts';
import { ConnectRequest, ConnectResponse, WatcherEvent } from './records.ts';
import type { Infer, RecordDef, RecordValue } from './schema.ts';

export const REQUEST_HEADER_SIZE = 8;
export const REPLY_HEADER_SIZE = 16;

export interface Request {
  xid: number;
  opcode: number;
  /** The opcode's request record; absent for body-less opcodes. */
  body?: RecordValue;
  /** Bytes after the record, kept so re-encoding is byte-identical. */
  extra?: Buffer;
}

export interface Reply {
  xid: number;
  zxid: bigint;
  err: number;
  /** Decoded only when err == 0 (as the Java client does). */
  body?: RecordValue;
  /** Bytes after the record, or the whole body of an error reply that carries one (SASL). */
  extra?: Buffer;
}

export type ConnectRequestRecord = Infer<typeof ConnectRequest> & { extra?: Buffer };
export type ConnectResponseRecord = Infer<typeof ConnectResponse> & { extra?: Buffer };
export type WatcherEventRecord = Infer<typeof WatcherEvent>;

// ---------------------------------------------------------------- header peeks (hot path)

export function requestXid(frame: Buffer): number {
  return frame.readInt32BE(4);
}
export function requestOpcode(frame: Buffer): number {
  return frame.readInt32BE(8);
}
export function replyXid(frame: Buffer): number {
  return frame.readInt32BE(4);
}
export function replyZxid(frame: Buffer): bigint {
  return frame.readBigInt64BE(8);
}
export function replyErr(frame: Buffer): number {
  return frame.readInt32BE(16);
}
/** The reply's zxid as a double: exact while zxids stay below 2^53 (epoch << 32 | counter), and no BigInt. */
export function replyZxidNumber(frame: Buffer): number {
  return frame.readInt32BE(8) * 4294967296 + frame.readUInt32BE(12);
}
/** Type and path of a notification (xid -1) frame without decoding it; undefined when malformed. */
export function peekWatcherEvent(frame: Buffer): { type: number; path: string } | undefined {
  if (frame.length < 32) return undefined;
  const pathLength = frame.readInt32BE(28);
  if (pathLength < 0 || 32 + pathLength > frame.length) return undefined;
  return { type: frame.readInt32BE(20), path: frame.toString('utf8', 32, 32 + pathLength) };
}

/** Validates a request frame's prefix and header size; returns [xid, opcode]. */
export function readRequestHeader(frame: Buffer): [xid: number, opcode: number] {
  checkFrame(frame, REQUEST_HEADER_SIZE, 'request');
  return [frame.readInt32BE(4), frame.readInt32BE(8)];
}

/** Validates a reply frame's prefix and header size; returns [xid, err]. */
export function readReplyHeader(frame: Buffer): [xid: number, err: number] {
  checkFrame(frame, REPLY_HEADER_SIZE, 'reply');
  return [frame.readInt32BE(4), frame.readInt32BE(16)];
}

// ---------------------------------------------------------------- body selection

/** The request record of `opcode`; throws unknownOpcode for codes no client may send. */
export function requestRecord(opcode: number): RecordDef | null {
  const info = opcodeInfo(opcode);
  if (info === undefined || !info.clientRequest) {
    throw new ProtocolError('unknownOpcode', `opcode ${opcode} is not a client request`, { offset: 8 });
  }
  return info.request;
}

/**
 * The record after a ReplyHeader. Notifications carry a WatcherEvent; error replies are not
 * decoded; otherwise the answered request's opcode decides (undefined: leave the body raw).
 */
export function replyRecord(xid: number, err: number, opcode: number | undefined): RecordDef | null {
  if (xid === Xid.notification) return WatcherEvent;
  if (err !== ErrorCode.OK || opcode === undefined) return null;
  return opcodeInfo(opcode)?.response ?? null;
}

// ---------------------------------------------------------------- requests and replies

function decodeBody(frame: Buffer, start: number, def: RecordDef | null): { body?: RecordValue; extra?: Buffer } {
  const r = new JuteReader(frame, start);
  const out: { body?: RecordValue; extra?: Buffer } = {};
  if (def !== null) out.body = decodeRecord(r, def);
  if (r.remaining > 0) out.extra = r.rest();
  return out;
}

function encodeFrame(
  headerSize: number,
  writeHeader: (w: JuteWriter) => void,
  def: RecordDef | null,
  body: RecordValue | undefined,
  extra: Buffer | undefined,
): Buffer {
  if (def !== null && body === undefined) throw new ProtocolError('invalidValue', `${def.name}: body missing`);
  const bodySize = def === null ? 0 : sizeRecord(def, body!);
  const w = new JuteWriter(LENGTH_PREFIX + headerSize + bodySize + (extra?.length ?? 0));
  w.pos = LENGTH_PREFIX;
  writeHeader(w);
  if (def !== null) encodeRecord(w, def, body!);
  if (extra !== undefined) w.raw(extra);
  return sealFrame(w.buf);
}

export function decodeRequest(frame: Buffer): Request {
  const [xid, opcode] = readRequestHeader(frame);
  return { xid, opcode, ...decodeBody(frame, LENGTH_PREFIX + REQUEST_HEADER_SIZE, requestRecord(opcode)) };
}

export function encodeRequest(request: Request): Buffer {
  const def = opcodeInfo(request.opcode)?.request ?? null;
  if (opcodeInfo(request.opcode) === undefined) {
    throw new ProtocolError('invalidValue', `opcode ${request.opcode} is not in the opcode table`);
  }
  return encodeFrame(
    REQUEST_HEADER_SIZE,
    (w) => {
      w.int(request.xid, 'xid');
      w.int(request.opcode, 'opcode');
    },
    def,
    request.body,
    request.extra,
  );
}

/** `opcode`: the opcode of the request this reply answers (ignored for notifications). */
export function decodeReply(frame: Buffer, opcode: number | undefined): Reply {
  checkFrame(frame, REPLY_HEADER_SIZE, 'reply');
  const xid = frame.readInt32BE(4);
  const zxid = frame.readBigInt64BE(8);
  const err = frame.readInt32BE(16);
  return { xid, zxid, err, ...decodeBody(frame, LENGTH_PREFIX + REPLY_HEADER_SIZE, replyRecord(xid, err, opcode)) };
}

export function encodeReply(reply: Reply, opcode: number | undefined): Buffer {
  return encodeFrame(
    REPLY_HEADER_SIZE,
    (w) => {
      w.int(reply.xid, 'xid');
      w.long(reply.zxid, 'zxid');
      w.int(reply.err, 'err');
    },
    replyRecord(reply.xid, reply.err, opcode),
    reply.body,
    reply.extra,
  );
}

/** A body-less reply (errors, and successes of body-less opcodes): 20 bytes, no table lookup. */
export function encodeReplyHeader(xid: number, zxid: bigint, err: number): Buffer {
  const frame = Buffer.allocUnsafe(LENGTH_PREFIX + REPLY_HEADER_SIZE);
  frame.writeInt32BE(REPLY_HEADER_SIZE, 0);
  frame.writeInt32BE(xid, 4);
  frame.writeBigInt64BE(zxid, 8);
  frame.writeInt32BE(err, 16);
  return frame;
}

// ---------------------------------------------------------------- handshake

function decodeHandshake<T>(frame: Buffer, def: RecordDef, minPayload: number): T & { extra?: Buffer } {
  checkFrame(frame, minPayload, def.name);
  const { body, extra } = decodeBody(frame, LENGTH_PREFIX, def);
  return (extra === undefined ? body : { ...body, extra }) as T & { extra?: Buffer };
}

function encodeHandshake(def: RecordDef, value: RecordValue & { extra?: Buffer }): Buffer {
  const { extra, ...fields } = value;
  return encodeFrame(0, () => {}, def, fields, extra);
}

/** 44 bytes (3.3-style, no readOnly) or 45; a trailing readOnly byte is optional. */
export function decodeConnectRequest(frame: Buffer): ConnectRequestRecord {
  return decodeHandshake<Infer<typeof ConnectRequest>>(frame, ConnectRequest, 28);
}
/** A new session's ConnectRequest as clients send it: no session yet, a zero password, read-write. */
export function encodeNewSessionRequest(timeOutMs: number): Buffer {
  return encodeConnectRequest({
    protocolVersion: 0,
    lastZxidSeen: 0n,
    timeOut: timeOutMs,
    sessionId: 0n,
    passwd: Buffer.alloc(SESSION_PASSWORD_LENGTH),
    readOnly: false,
  });
}
export function encodeConnectRequest(value: ConnectRequestRecord): Buffer {
  return encodeHandshake(ConnectRequest, value);
}
export function decodeConnectResponse(frame: Buffer): ConnectResponseRecord {
  return decodeHandshake<Infer<typeof ConnectResponse>>(frame, ConnectResponse, 20);
}
export function encodeConnectResponse(value: ConnectResponseRecord): Buffer {
  return encodeHandshake(ConnectResponse, value);
}

/** The opcode a reply with a special xid answers when no request was tracked for it. */
export function specialXidOpcode(xid: number): number | undefined {
  switch (xid) {
    case Xid.notification:
      return OpCode.notification;
    case Xid.ping:
      return OpCode.ping;
    case Xid.auth:
      return OpCode.auth;
    default:
      return undefined;
  }
}
