/**
 * Opens the one backend connection of a client session: sends the client's ConnectRequest bytes,
 * unchanged (with the session's own requests right behind them: the tenant's authentication), to
 * ensemble members in turn until one answers with a usable ConnectResponse.
 * A member that refuses (closes without answering: zxid ahead, connection limits, not serving) or
 * offers only a read-only session while others may do better is skipped.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { decodeConnectResponse, FrameReader, type ConnectResponseRecord } from 'jute-ts';
import type { EnsembleMembers, MemberState } from './members.ts';
import { ReadBuffer } from './read-buffer.ts';

export interface BackendSession {
  socket: Socket;
  member: MemberState;
  /** The ConnectResponse frame, to relay unchanged. */
  responseFrame: Buffer;
  response: ConnectResponseRecord;
  /** Splits the rest of the member's stream into frames (it may hold a partial frame already). */
  reader: FrameReader;
  /** Where the member's bytes arrive (the socket emits no 'data'): the session sets `onData`. */
  reads: ReadBuffer;
  /** Frames that arrived in the same chunk as the ConnectResponse (copies). */
  framesAfterResponse: Buffer[];
}

export interface ConnectOptions {
  connectTimeoutMs: number;
  /** The largest frame the member's stream may carry after the handshake. */
  maxFrameBytes: number;
  /** Called for each attempt that failed, for logs and metrics. */
  onAttemptFailed?: (member: MemberState, reason: string) => void;
}

export class NoBackendError extends Error {
  readonly attempts: string[];
  constructor(attempts: string[]) {
    super(`no ensemble member accepted the session (${attempts.join('; ')})`);
    this.name = 'NoBackendError';
    this.attempts = attempts;
  }
}

export async function connectBackend(
  members: EnsembleMembers,
  greeting: Buffer,
  options: ConnectOptions,
  signal: AbortSignal,
): Promise<BackendSession> {
  const attempts: string[] = [];
  let readOnlyFallback: BackendSession | undefined;
  for (const member of members.connectionOrder()) {
    if (signal.aborted) break;
    try {
      const session = await handshake(member, greeting, options, signal);
      // An expired/invalid answer (timeOut 0) is definitive: every member shares the session table.
      if (session.response.readOnly === true && session.response.timeOut > 0) {
        attempts.push(`${member.key}: read-only`);
        if (readOnlyFallback === undefined) readOnlyFallback = session;
        else session.socket.destroy();
        continue;
      }
      members.markSuccess(member);
      readOnlyFallback?.socket.destroy();
      return session;
    } catch (error) {
      const reason = (error as Error).message;
      attempts.push(`${member.key}: ${reason}`);
      // The client went away mid-handshake: that says nothing about the member, so it is not
      // marked failed (nor counted, nor logged as one).
      if (signal.aborted) break;
      members.markFailure(member);
      options.onAttemptFailed?.(member, reason);
    }
  }
  if (readOnlyFallback !== undefined && !signal.aborted) {
    members.markSuccess(readOnlyFallback.member);
    return readOnlyFallback;
  }
  readOnlyFallback?.socket.destroy();
  throw new NoBackendError(signal.aborted ? [...attempts, 'client went away'] : attempts);
}

function handshake(member: MemberState, greeting: Buffer, options: ConnectOptions, signal: AbortSignal): Promise<BackendSession> {
  return new Promise((resolve, reject) => {
    const reads = new ReadBuffer();
    const socket = netConnect({ host: member.address.host, port: member.address.port, noDelay: true, onread: reads.onread });
    let done = false;
    const finish = (error: Error | undefined, session?: BackendSession) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(session!);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
    const onAbort = () => finish(new Error('aborted'));
    const onError = (error: Error) => finish(new Error(error.message));
    const onClose = () => finish(new Error('closed without a ConnectResponse'));
    const reader = new FrameReader(options.maxFrameBytes);
    let response: { frame: Buffer; record: ConnectResponseRecord } | undefined;
    const framesAfterResponse: Buffer[] = [];
    const onFrame = (frame: Buffer) => {
      if (response !== undefined) {
        framesAfterResponse.push(Buffer.from(frame)); // it outlives the chunk it views
        return;
      }
      // The ConnectResponse is tiny (36/37 bytes); anything frame-sized is not one.
      if (frame.length - 4 > MAX_CONNECT_RESPONSE) throw new Error(`bad ConnectResponse length ${frame.length - 4}`);
      const responseFrame = Buffer.from(frame);
      response = { frame: responseFrame, record: decodeConnectResponse(responseFrame) };
    };
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (response !== undefined)
        finish(undefined, { socket, member, responseFrame: response.frame, response: response.record, reader, reads, framesAfterResponse });
    };
    signal.addEventListener('abort', onAbort);
    // Until the session takes over, frames after the response keep being collected (copied).
    reads.onData = onData;
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(greeting);
  });
}

/** A ConnectResponse is 36 or 37 bytes; allow trailing extras, refuse anything frame-sized. */
const MAX_CONNECT_RESPONSE = 256;
