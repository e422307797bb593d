/**
 * One client connection and its one backend connection. Relays frames both ways, rewriting paths
 * into the tenant's chroot and back, and keeps replies in the client's xid order: a reply the proxy
 * makes itself waits behind replies still in flight from the ensemble.
 *
 * Lifecycle: handshake (waiting for the ConnectRequest) → connecting (backend handshake, client
 * reads paused) → relaying → closed. Any backend loss closes the client promptly, so the client
 * reconnects (here or to another replica) and resumes the same session on another member.
 */
import type { Socket } from 'node:net';
import {
  ConversationTracker,
  decodeConnectRequest,
  decodeConnectResponse,
  decodeReply,
  decodeRequest,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeReply,
  encodeReplyHeader,
  encodeRequest,
  ErrorCode,
  errorName,
  fourLetterWordOf,
  FrameReader,
  isProtocolError,
  mapFields,
  OpCode,
  opcodeName,
  peekWatcherEvent,
  ProtocolError,
  Rejection,
  replyErr,
  replyXid,
  replyZxidNumber,
  requestOpcode,
  requestXid,
  SESSION_PASSWORD_LENGTH,
  Xid,
  type FieldMappers,
  type MapContext,
} from 'jute-ts';
import { connectBackend, NoBackendError, type BackendSession } from '../backend/connector.ts';
import type { EnsembleMembers, MemberState } from '../backend/members.ts';
import { sessionHex, type Logger } from '../observability/logger.ts';
import type { RefusalReason, TenantMetrics } from '../observability/metrics.ts';
import type { RateLimitedLog } from '../observability/rate-limited-log.ts';
import { WatchLedger } from '../limits/watch-ledger.ts';
import { ClientIdentities } from '../tenancy/client-identities.ts';
import { refusalFor } from '../tenancy/request-policy.ts';
import { confirmEnsemblePassword } from '../tenancy/session-seal.ts';
import { WriteBatch } from './write-batch.ts';
import type { Tenant } from '../tenancy/tenant.ts';

export interface SessionEnvironment {
  members: EnsembleMembers;
  connectTimeoutMs: number;
  /** A connection that has not sent its ConnectRequest by then is closed (ZooKeeper: ~10 s). */
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  log: Logger;
  /** Resolves once the tenant root exists on the ensemble. */
  ensureTenantRoot(tenant: Tenant): Promise<void>;
  /** Answers a four-letter word sent on a tenant listener (the socket is closed afterwards). */
  fourLetterWord(word: string, socket: Socket): void;
  onBackendAttemptFailed(memberKey: string, reason: string): void;
  onBackendOpened(memberKey: string): void;
  onBackendClosed(memberKey: string): void;
  /** The client gave up on a member that stopped answering: others should be tried first. */
  onBackendSilent(member: MemberState, silentMs: number): void;
  /** Forward SASL (opcode 102) instead of refusing it. */
  allowSasl: boolean;
  /** The ensemble's jute.maxbuffer: no request leaves the proxy larger than this. */
  ensembleMaxFrameBytes: number;
  /** Refusals are logged through this: at most one line per tenant and reason per interval (the metric counts all). */
  refusalLog: RateLimitedLog;
}

/** A reply the proxy made itself, waiting in the xid queue for its turn. */
interface ProxyReply {
  readonly frame: Buffer;
  /** Close the connection once this reply is out (UNIMPLEMENTED, as the server does). */
  readonly closeAfter: boolean;
  /** Stamp the connection's highest zxid into the frame when it goes out (not when it was queued). */
  readonly stampZxid: boolean;
}

/** A forwarded request whose reply must update watch accounting. */
interface Settled {
  readonly sentAt: number;
  settle(err: number): void;
}

/**
 * What waits in the xid queue: a forwarded request (the performance.now() it left at, for
 * latency; an object only for the few requests that change watch accounting) or a reply of the
 * proxy's own. For the common request, nothing is allocated but the tracker entry.
 */
type InFlight = number | Settled | ProxyReply | typeof SWALLOW;

/** Opcodes never held back by limits: they keep a session alive, authenticated and closable. */
const NEVER_HELD = new Set<number>([OpCode.ping, OpCode.auth, OpCode.closeSession]);

/** addAuth schemes counted by name in zkproxy_client_auth_total; any other is "other" (bounded labels). */
const AUTH_SCHEME_LABELS = new Set(['digest', 'ip', 'x509', 'sasl']);

/** The reply to the proxy's own auth packet: checked, never shown to the client. */
const SWALLOW = Symbol('reply to the proxy itself');

type State = 'handshake' | 'connecting' | 'relaying' | 'closed';

/** Frames a client may pipeline behind its ConnectRequest before the backend answers. */
const MAX_EARLY_FRAMES = 1024;
/** How long a closing connection may take to flush its last replies. */
const CLOSE_FLUSH_MS = 5000;

export class ClientSession {
  readonly tenant: Tenant;
  readonly remote: string;
  private readonly client: Socket;
  private readonly env: SessionEnvironment;
  private readonly metrics: TenantMetrics;
  /** Created on first use: at the default level an idle connection never logs (~0.4 KB each). */
  private logger: Logger | undefined;
  private readonly clientReader: FrameReader;
  private readonly tracker = new ConversationTracker<InFlight>();
  private readonly replyContext = { direction: 'reply' as const, opcode: undefined as number | undefined };
  private readonly requestContext: MapContext = { direction: 'request' };
  private readonly requestMappers: FieldMappers;
  private readonly replyMappers: FieldMappers;
  /** closeSession went out: whatever the client sends after it is not forwarded. */
  private closing = false;
  private readonly toBackend = new WriteBatch();
  private readonly toClient = new WriteBatch();
  private readonly onClientFrameBound = (frame: Buffer) => this.onClientFrame(frame);
  private readonly onBackendFrameBound = (frame: Buffer) => this.onBackendFrame(frame);
  /** Only while the backend handshake runs: an idle connection does not keep it (~0.5 KB). */
  private abort: AbortController | undefined;
  private state: State = 'handshake';
  private backend: BackendSession | undefined;
  private backendReader: FrameReader | undefined;
  private earlyFrames: Buffer[] = [];
  private sessionId: bigint | undefined;
  /** performance.now() of the last bytes from the ensemble member. */
  private lastBackendDataAt = 0;
  /**
   * Highest zxid the ensemble put in a reply on this connection; proxy-made replies reuse it.
   * A double: zxids stay far below 2^53 (epoch << 32 | counter), and no BigInt per reply.
   */
  private lastZxid = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Whether the ConnectRequest resumed a session (undefined before it arrived). */
  private resumedSession: boolean | undefined;
  private closeReason: string | undefined;
  private clientWaitsForDrain = false;
  private backendWaitsForDrain = false;
  private readonly onClose: (session: ClientSession) => void;
  /** Requests read but held back by a limit, oldest first (copied: they outlive their chunk). */
  private held: Buffer[] = [];
  private heldSince: number[] = [];
  private heldBytes = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly releaseHeldBound = () => this.releaseHeld();
  /** Requests of this connection forwarded and not yet answered (pings and auth included). */
  private forwardedInFlight = 0;
  private readonly watches: WatchLedger;
  /** Client xids (>= 0) with a request or a proxy-made reply still pending. */
  private readonly xidsInFlight = new Set<number>();
  /** What the client authenticated with: its x509 subject on a TLS listener, its addAuth digests. */
  private readonly identities: ClientIdentities;
  private readonly x509Subject: string | undefined;

  /** `x509Subject`: the verified client certificate's subject DN (RFC 2253), on a TLS listener. */
  constructor(client: Socket, tenant: Tenant, env: SessionEnvironment, metrics: TenantMetrics, onClose: (session: ClientSession) => void, x509Subject?: string) {
    this.client = client;
    this.tenant = tenant;
    this.env = env;
    this.metrics = metrics;
    this.onClose = onClose;
    this.remote = `${client.remoteAddress}:${client.remotePort}`;
    this.clientReader = new FrameReader(env.maxFrameBytes);
    this.x509Subject = x509Subject;
    this.identities = new ClientIdentities(x509Subject);
    this.requestMappers = { path: tenant.chroot.toServer, acl: tenant.acl.toServerFor(this.identities) };
    this.replyMappers = { path: tenant.chroot.toClient, acl: tenant.acl.toClient };
    this.watches = new WatchLedger((delta) => (tenant.limiter.watches += delta));
    client.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    client.on('drain', () => {
      this.clientWaitsForDrain = false;
      this.updateFlow();
    });
    client.on('error', (error) => this.close(`client error: ${error.message}`));
    client.on('close', () => {
      this.noticeSilentBackend();
      this.close('client closed');
    });
    this.handshakeTimer = setTimeout(() => {
      if (this.state === 'handshake') this.close(`no ConnectRequest within ${env.handshakeTimeoutMs} ms`);
    }, env.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    metrics.root.connectionsOpened.labels(tenant.name).inc();
    metrics.root.connectionsActive.labels(tenant.name).inc();
    if (env.log.isLevelEnabled('info')) this.log.info('connection opened');
  }

  private get log(): Logger {
    return (this.logger ??= this.env.log.child({ tenant: this.tenant.name, remote: this.remote }));
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  // ------------------------------------------------------------------ client → ensemble

  private onClientData(chunk: Buffer): void {
    this.metrics.bytesIn.inc(chunk.length);
    // After closeSession the conversation is over: the rest is not even parsed, and the
    // replies still in flight reach the client before the ensemble closes the session.
    if (this.closing) return;
    try {
      this.clientReader.push(chunk, this.onClientFrameBound);
    } catch (error) {
      this.onClientFrameError(error);
    } finally {
      this.flushWrites();
    }
  }

  private onClientFrameError(error: unknown): void {
    if (this.closing) return; // bytes after closeSession in the same chunk: ignored, see onClientData
    if (!isProtocolError(error)) {
      this.log.error({ err: error }, 'internal error handling a client frame');
      this.close('internal error');
      return;
    }
    const word = this.state === 'handshake' && error.kind === 'frameTooLarge' ? fourLetterWordOf(error.length ?? 0) : undefined;
    if (word !== undefined) {
      this.refuse('four_letter_word', `four-letter word ${word}`);
      this.state = 'closed'; // the 4lw handler owns the socket from here
      this.finish(`four-letter word ${word}`);
      this.env.fourLetterWord(word, this.client);
      return;
    }
    this.metrics.root.decodeErrors.labels(this.tenant.name, 'client', error.kind).inc();
    this.refuse(error.kind === 'frameTooLarge' ? 'frame_too_large' : 'malformed', error.message);
    // Like ZooKeeper: a bad length or a bad header closes the connection without a reply.
    this.close(`malformed client frame: ${error.message}`);
  }

  private onClientFrame(frame: Buffer): void {
    switch (this.state) {
      case 'handshake':
        this.onConnectRequest(frame);
        return;
      case 'connecting':
        if (this.earlyFrames.length >= MAX_EARLY_FRAMES) throw new ProtocolError('invalidValue', 'too many requests before the session was established');
        this.earlyFrames.push(Buffer.from(frame)); // the chunk it views may be reused by nobody, but copy: it waits
        return;
      case 'relaying':
        this.onRequest(frame);
        return;
      case 'closed':
        return;
    }
  }

  private onConnectRequest(frame: Buffer): void {
    const request = decodeConnectRequest(frame); // validates; a ProtocolError closes the connection
    clearTimeout(this.handshakeTimer);
    // Every client sends a 16-byte password (zeros for a new session) and nothing after readOnly;
    // anything else is not a ZooKeeper client (a request sent before the handshake, for one).
    if (request.passwd?.length !== SESSION_PASSWORD_LENGTH || request.extra !== undefined) {
      throw new ProtocolError('invalidValue', 'not a ConnectRequest (password must be 16 bytes, nothing may follow readOnly)');
    }
    // A resumed session's password was sealed for this tenant. Anything else (another tenant's
    // sealed password, a guess, the ensemble's raw one) is answered "expired" here, as ZooKeeper
    // would: forwarded, it would make ZooKeeper drop the session's live connection first.
    let connectFrame: Buffer = Buffer.from(frame);
    this.resumedSession = request.sessionId !== 0n;
    if (request.sessionId !== 0n) {
      const passwd = this.tenant.seal.unsealFor(request.sessionId, request.passwd);
      if (passwd === undefined) {
        this.refuse('policy', `resume of ${sessionHex(request.sessionId)} with a password not sealed for this tenant`);
        this.writeToClient(encodeConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(SESSION_PASSWORD_LENGTH), readOnly: false }));
        this.close('session expired or invalid (password not sealed for this tenant)');
        return;
      }
      connectFrame = encodeConnectRequest({ ...request, passwd });
    }
    this.state = 'connecting';
    this.updateFlow();
    const requested = request.sessionId === 0n ? 'new session' : `resume ${sessionHex(request.sessionId)}`;
    if (this.env.log.isLevelEnabled('debug')) this.log.debug({ requested, timeout: request.timeOut }, 'connect request');
    this.openBackend(connectFrame).catch((error: unknown) => {
      // The client went away while the backend handshake ran: nothing was refused.
      if (this.state === 'closed') return;
      if (error instanceof NoBackendError) {
        this.refuse('no_backend', error.message);
        this.close(error.message);
      } else {
        this.log.error({ err: error }, 'backend connect failed');
        this.close('backend connect failed');
      }
    });
  }

  private async openBackend(connectFrame: Buffer): Promise<void> {
    await this.env.ensureTenantRoot(this.tenant);
    if (this.state !== 'connecting') return;
    this.abort = new AbortController();
    let backend: BackendSession;
    try {
      backend = await connectBackend(
        this.env.members,
        connectFrame,
        { connectTimeoutMs: this.env.connectTimeoutMs, onAttemptFailed: (member, reason) => this.env.onBackendAttemptFailed(member.key, reason) },
        this.abort.signal,
      );
    } finally {
      this.abort = undefined;
    }
    if (this.state !== 'connecting') {
      backend.socket.destroy();
      return;
    }
    this.backend = backend;
    this.backendReader = new FrameReader(this.env.maxFrameBytes);
    this.env.onBackendOpened(backend.member.key);
    const socket = backend.socket;
    socket.on('data', (chunk: Buffer) => this.onBackendData(chunk));
    socket.on('drain', () => {
      this.backendWaitsForDrain = false;
      this.updateFlow();
    });
    socket.on('error', (error) => this.backendLost(`backend error: ${error.message}`));
    socket.on('close', () => this.backendLost('backend closed'));

    const { response } = backend;
    if (response.timeOut <= 0) {
      this.writeToClient(backend.responseFrame);
      // Expired or unknown session: the server closes next; so do we, after the answer is out.
      this.close('session expired or invalid');
      return;
    }
    this.writeToClient(encodeConnectResponse({ ...decodeConnectResponse(backend.responseFrame), passwd: this.tenant.seal.seal(response.passwd ?? Buffer.alloc(0)) }));
    this.sessionId = response.sessionId;
    if (this.resumedSession === false && response.passwd !== null && !confirmEnsemblePassword(response.sessionId, response.passwd)) {
      this.log.error('the ensemble\'s session passwords do not follow ZooKeeper\'s generatePasswd: resume passwords are no longer checked by the proxy (a tenant could make another tenant\'s connection drop by guessing its session id)');
    }
    this.state = 'relaying';
    this.lastBackendDataAt = performance.now();
    this.metrics.root.sessionsActive.labels(this.tenant.name).inc();
    if (this.env.log.isLevelEnabled('info')) {
      this.log.info({ session: sessionHex(response.sessionId), member: backend.member.key, timeout: response.timeOut, readOnly: response.readOnly === true }, 'session established');
    }
    const early = this.earlyFrames;
    this.earlyFrames = [];
    try {
      // Authenticate as the tenant before anything of the client's: the ensemble's ACLs on the
      // tenant's nodes name this identity. Its reply is swallowed in xid order.
      this.authenticateBackend(this.tenant.identity);
      // A TLS client's own x509 identity, which the ensemble only knows by its digest stand-in.
      if (this.x509Subject !== undefined) this.authenticateBackend(this.tenant.x509IdentityOf(this.x509Subject));
      for (const frame of early) this.onRequest(frame);
    } catch (error) {
      this.onClientFrameError(error);
    } finally {
      this.flushWrites();
    }
    if (backend.leftover !== undefined) this.onBackendData(backend.leftover);
    this.updateFlow();
  }

  private authenticateBackend({ user, password }: { user: string; password: string }): void {
    this.tracker.request(Xid.auth, OpCode.auth, SWALLOW);
    this.toBackend.add(encodeRequest({ xid: Xid.auth, opcode: OpCode.auth, body: { type: 0, scheme: 'digest', auth: Buffer.from(`${user}:${password}`) } }));
  }

  /** A client's addAuth: a digest identity is recorded (it expands the client's `auth` ACL entries). */
  private noteAuth(frame: Buffer): void {
    const body = decodeRequest(frame).body as { scheme: string; auth: Buffer | null };
    if (body.scheme === 'digest') this.identities.addDigest(body.auth ?? Buffer.alloc(0));
    this.metrics.root.clientAuth.labels(this.tenant.name, AUTH_SCHEME_LABELS.has(body.scheme) ? body.scheme : 'other').inc();
  }

  // ------------------------------------------------------------------ limits

  /** A request from the client: forwarded now, or held (in order) until the limits allow it. */
  private onRequest(frame: Buffer): void {
    // Checked before a request can be held: a held one is answered by its xid.
    if (frame.length < 12) throw new ProtocolError('truncated', `request of ${frame.length - 4} bytes has no header`, { offset: 0 });
    if (this.held.length > 0 || !this.admit(frame)) {
      this.hold(frame);
      return;
    }
    this.forwardAdmitted(frame);
  }

  /**
   * Forwards a request admit() let through. Its slot is given back unless the request is now in
   * flight, also when forwardRequest throws (a malformed request closes the connection): a slot
   * lost there would stay taken for the tenant as long as the process lives.
   */
  private forwardAdmitted(frame: Buffer): void {
    let forwarded = false;
    try {
      forwarded = this.forwardRequest(frame);
    } finally {
      if (!forwarded) this.releaseSlot();
    }
  }

  /** Takes what forwarding one request needs (a token, in-flight room); false when it must wait. */
  private admit(frame: Buffer): boolean {
    const limiter = this.tenant.limiter;
    const opcode = frame.length >= 12 ? requestOpcode(frame) : 0;
    if (NEVER_HELD.has(opcode)) limiter.inFlight++;
    else if (this.forwardedInFlight >= limiter.limits.maxInFlightPerConnection || limiter.admit() !== undefined) return false;
    this.forwardedInFlight++;
    return true;
  }

  /** A forwarded request was answered, or was not forwarded after all. */
  private releaseSlot(): void {
    this.forwardedInFlight--;
    this.tenant.limiter.done();
  }

  /** Holds a request; the client is not read from until it is released (backpressure). */
  private hold(frame: Buffer): void {
    this.held.push(Buffer.from(frame));
    this.heldSince.push(performance.now());
    this.heldBytes += frame.length;
    if (this.held.length === 1) this.scheduleRelease();
    this.updateFlow();
  }

  private scheduleRelease(): void {
    this.tenant.limiter.waitForCapacity(this.releaseHeldBound);
    clearTimeout(this.holdTimer);
    const maxWait = this.tenant.limiter.limits.maxThrottleWaitMs;
    if (maxWait === 0) return; // backpressure only
    // However long capacity takes, the oldest held request is answered THROTTLEDOP on time.
    const due = this.heldSince[0]! + maxWait - performance.now();
    this.holdTimer = setTimeout(this.releaseHeldBound, Math.max(0, due) + 1);
    this.holdTimer.unref();
  }

  /** Forwards held requests while the limits allow; answers THROTTLEDOP to those held too long. */
  private releaseHeld(): void {
    if (this.state !== 'relaying' || this.held.length === 0) return;
    clearTimeout(this.holdTimer);
    const maxWait = this.tenant.limiter.limits.maxThrottleWaitMs;
    const now = performance.now();
    try {
      while (this.held.length > 0) {
        const frame = this.held[0]!;
        // A ping, auth or closeSession waits behind the requests held before it (replies stay in
        // order) but never expires: THROTTLEDOP to a ping would keep the session from reaching
        // the ensemble, to auth or closeSession it would break the client (kazoo treats any
        // error on its auth xid as AUTH_FAILED).
        const expired = maxWait > 0 && !NEVER_HELD.has(requestOpcode(frame)) && now - this.heldSince[0]! > maxWait;
        if (!expired && !this.admit(frame)) break;
        this.held.shift();
        this.heldSince.shift();
        this.heldBytes -= frame.length;
        if (expired) {
          this.refuse('throttled', `held over ${maxWait} ms`);
          // Like ZooKeeper's own request throttle (3.7+): the request was not executed.
          this.replyFromProxy(requestXid(frame), ErrorCode.THROTTLEDOP, false);
        } else this.forwardAdmitted(frame);
      }
      if (this.held.length > 0) this.scheduleRelease();
    } catch (error) {
      this.onClientFrameError(error);
    } finally {
      this.flushWrites();
      this.updateFlow();
    }
  }

  /** Client and backend bytes this session holds in memory now (for the proxy's memory guard). */
  get bufferedBytes(): number {
    return this.client.writableLength + (this.backend?.socket.writableLength ?? 0) + this.heldBytes + this.clientReader.buffered + (this.backendReader?.buffered ?? 0);
  }

  /** The memory guard changed its mind: read again if nothing else holds this session back. */
  refreshFlow(): void {
    this.updateFlow();
  }

  /** Forwards a request (rewritten); false when the proxy answered it itself instead. */
  private forwardRequest(frame: Buffer): boolean {
    // The frame reader guarantees the prefix matches; only the header size needs checking.
    if (frame.length < 12) throw new ProtocolError('truncated', `request of ${frame.length - 4} bytes has no header`, { offset: 0 });
    const xid = requestXid(frame);
    const opcode = requestOpcode(frame);
    this.metrics.request(opcode);
    if (this.closing) return false; // the session is closed; what follows goes nowhere
    if (xid === Xid.notification) {
      // The ensemble's answer would carry xid -1 too and pass for a watch event: not a client's to send.
      throw new ProtocolError('invalidValue', 'a request with xid -1, which only watch notifications use');
    }
    // Replies are matched to requests by xid; two in flight with the same one could be mapped as
    // each other's opcode (a path left unmapped). Real clients never do it; pings and auth share
    // their special xids by design and are answered alike.
    if (xid >= 0 && opcode !== OpCode.ping && this.xidsInFlight.has(xid)) throw new ProtocolError('invalidValue', `xid ${xid} is already in flight on this connection`);
    const refusal = refusalFor(opcode, { allowSasl: this.env.allowSasl });
    if (refusal !== undefined) {
      this.refuse(refusal.code === ErrorCode.UNIMPLEMENTED ? 'unimplemented' : 'policy', `${opcodeName(opcode)}: ${refusal.reason}`);
      // ZooKeeper's own UNIMPLEMENTED reply carries zxid -1.
      this.replyFromProxy(xid, refusal.code, refusal.close, refusal.code === ErrorCode.UNIMPLEMENTED ? -1 : undefined);
      return false;
    }
    let mapped: Buffer | Rejection;
    try {
      if (opcode === OpCode.auth) this.noteAuth(frame);
      mapped = mapFields(frame, this.requestContext, this.requestMappers);
    } catch (error) {
      if (!isProtocolError(error)) throw error;
      // A header we understood with a body we cannot parse: ZooKeeper answers MARSHALLINGERROR.
      this.metrics.root.decodeErrors.labels(this.tenant.name, 'client', error.kind).inc();
      this.refuse('malformed', `${opcodeName(opcode)}: ${error.message}`);
      this.replyFromProxy(xid, ErrorCode.MARSHALLINGERROR, false);
      return false;
    }
    if (mapped instanceof Rejection) {
      this.refuse(mapped.code === ErrorCode.BADARGUMENTS ? 'bad_path' : 'policy', `${opcodeName(opcode)}: ${mapped.reason}`);
      this.replyFromProxy(xid, mapped.code, false);
      return false;
    }
    // The chroot prefix (and the tenant's ACL identity) make a frame longer: one that fitted the
    // limit on the way in may not on the way out. It never leaves the proxy above either limit
    // (the ensemble would close the connection, taking the session's other requests with it).
    const limit = Math.min(this.env.maxFrameBytes, this.env.ensembleMaxFrameBytes);
    if (mapped.length - 4 > limit) {
      this.refuse('frame_too_large', `${opcodeName(opcode)}: ${mapped.length - 4} bytes once rewritten, above the limit of ${limit}`);
      this.replyFromProxy(xid, ErrorCode.BADARGUMENTS, false);
      return false;
    }
    let inFlight: number | Settled = performance.now();
    const newWatches = this.watches.wouldAdd(opcode, mapped);
    if (newWatches.length > 0) {
      const { maxWatches } = this.tenant.limiter.limits;
      if (maxWatches > 0 && this.tenant.limiter.watches + newWatches.length > maxWatches) {
        this.refuse('watch_limit', `${opcodeName(opcode)} would exceed the tenant's ${maxWatches} watches`);
        this.replyFromProxy(xid, ErrorCode.QUOTAEXCEEDED, false);
        return false;
      }
      this.watches.add(newWatches);
      inFlight = { sentAt: inFlight, settle: (err) => this.watches.settle(opcode, err, newWatches) };
    } else if ((opcode === OpCode.removeWatches || opcode === OpCode.checkWatches) && this.watches.size > 0) {
      const body = decodeRequest(mapped).body as { path: string; type: number };
      inFlight = { sentAt: inFlight, settle: (err) => err === ErrorCode.OK && this.watches.removed(body.type, body.path) };
    }
    if (opcode === OpCode.closeSession) this.closing = true;
    // ZooKeeper answers a ping with xid -2 whatever xid it carried: track it under the xid of its
    // reply, or the entry would stay in flight forever, holding back the proxy's own replies and
    // matching a later reply with that xid (which would then skip its path and ACL mapping).
    const trackedXid = opcode === OpCode.ping ? Xid.ping : xid;
    this.tracker.request(trackedXid, opcode, inFlight);
    if (trackedXid >= 0) this.xidsInFlight.add(trackedXid);
    this.toBackend.add(mapped);
    return true;
  }

  /** Queues a reply made by the proxy behind every reply still in flight. */
  private replyFromProxy(xid: number, err: number, closeAfter: boolean, fixedZxid?: number): void {
    const frame = encodeReplyHeader(xid, BigInt(fixedZxid ?? this.lastZxid), err);
    if (this.tracker.size === 0) {
      this.writeToClient(frame);
      if (closeAfter) this.close(`answered ${errorName(err)} and closed`);
      return;
    }
    // Replies ahead of this one may carry newer zxids: a zxid taken now would go backwards.
    this.tracker.request(xid, -1, { frame, closeAfter, stampZxid: fixedZxid === undefined });
    if (xid >= 0) this.xidsInFlight.add(xid);
  }

  // ------------------------------------------------------------------ ensemble → client

  /**
   * A client leaves when the server has said nothing for 2/3 of its session timeout (pings
   * unanswered): the member is alive to TCP but not serving (SIGSTOP, GC pause, partition), and
   * the proxy cannot see that from its own side. Recording it sends this client's reconnect, and
   * everyone else's, to other members first instead of spending a connect timeout on it.
   */
  private noticeSilentBackend(): void {
    const backend = this.backend;
    if (this.state !== 'relaying' || backend === undefined || this.tracker.size === 0) return;
    const silentMs = performance.now() - this.lastBackendDataAt;
    if (silentMs >= backend.response.timeOut / 3) this.env.onBackendSilent(backend.member, silentMs);
  }

  private onBackendData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastBackendDataAt = performance.now();
    try {
      this.backendReader!.push(chunk, this.onBackendFrameBound);
      // Replies freed in-flight room: requests held for it may go now.
      if (this.held.length > 0) this.releaseHeld();
    } catch (error) {
      if (isProtocolError(error)) {
        this.metrics.root.decodeErrors.labels(this.tenant.name, 'ensemble', error.kind).inc();
        this.log.error({ err: error.message }, 'malformed frame from the ensemble');
        this.close(`malformed ensemble frame: ${error.message}`);
      } else {
        this.log.error({ err: error }, 'internal error handling an ensemble frame');
        this.close('internal error');
      }
    } finally {
      this.flushWrites();
    }
  }

  private onBackendFrame(frame: Buffer): void {
    if (this.state === 'closed') return;
    if (frame.length < 20) throw new ProtocolError('truncated', `reply of ${frame.length - 4} bytes has no header`, { offset: 0 });
    const xid = replyXid(frame);
    let opcode: number | undefined;
    if (xid !== Xid.notification) {
      const pending = this.tracker.reply(xid);
      if (pending === undefined) {
        // Pings and auth answered without a tracked request are harmless; anything else is a broken stream.
        if (xid !== Xid.ping && xid !== Xid.auth) {
          this.close(`ensemble replied to xid ${xid}, which no request in flight has`);
          return;
        }
      } else if (pending.data === SWALLOW) {
        const err = replyErr(frame);
        if (err !== ErrorCode.OK) {
          this.log.error({ err: errorName(err), identity: this.tenant.identity.user }, 'the ensemble refused the tenant identity');
          this.close('tenant authentication failed');
          return;
        }
        this.flushProxyReplies();
        return;
      } else {
        this.xidsInFlight.delete(xid);
        opcode = pending.opcode;
        const data = pending.data;
        if (typeof data === 'number') {
          this.metrics.observeLatency(opcode, (performance.now() - data) / 1000);
          this.releaseSlot();
        } else if ('settle' in data) {
          this.metrics.observeLatency(opcode, (performance.now() - data.sentAt) / 1000);
          this.releaseSlot();
          data.settle(replyErr(frame));
        }
      }
      const zxid = replyZxidNumber(frame);
      if (zxid > this.lastZxid) this.lastZxid = zxid;
      const err = replyErr(frame);
      if (err !== ErrorCode.OK) this.metrics.root.replyErrors.labels(this.tenant.name, errorName(err)).inc();
    } else if (this.watches.size > 0) {
      // A one-shot watch fired: it no longer counts against the tenant's watches.
      const event = peekWatcherEvent(frame);
      if (event !== undefined) this.watches.fired(event.type, event.path);
    }
    this.replyContext.opcode = opcode;
    const mapped = opcode === OpCode.whoAmI ? this.ownIdentitiesOnly(frame) : mapFields(frame, this.replyContext, this.replyMappers);
    if (mapped instanceof Rejection) {
      // A server path outside the chroot must never reach the client.
      this.metrics.root.isolationDrops.labels(this.tenant.name).inc();
      this.log.error({ xid, opcode: opcode === undefined ? 'notification' : opcodeName(opcode) }, 'withheld a frame carrying a path outside the tenant chroot');
      if (xid === Xid.notification) return;
      this.close('reply carried a path outside the tenant chroot');
      return;
    }
    this.writeToClient(mapped);
    this.flushProxyReplies();
  }

  /** whoAmI lists the client's own identities: not the tenant identity the proxy added, and the client's address, not the proxy's. */
  private ownIdentitiesOnly(frame: Buffer): Buffer {
    const reply = decodeReply(frame, OpCode.whoAmI);
    if (reply.err !== ErrorCode.OK || reply.body === undefined) return frame;
    const infos = (reply.body.clientInfo as { authScheme: string | null; user: string | null }[] | null) ?? [];
    const own = infos.flatMap((info) => {
      if (info.authScheme === 'ip') return [{ authScheme: 'ip', user: this.client.remoteAddress?.replace(/^::ffff:/, '') ?? null }];
      const shown = this.tenant.acl.shownClientInfo(info.authScheme, info.user, this.x509Subject);
      return shown === undefined ? [] : [shown];
    });
    return encodeReply({ ...reply, body: { clientInfo: own } }, OpCode.whoAmI);
  }

  private flushProxyReplies(): void {
    for (let head = this.tracker.peek(); head !== undefined && typeof head.data === 'object' && 'frame' in head.data; head = this.tracker.peek()) {
      this.tracker.shift();
      this.xidsInFlight.delete(head.xid);
      const reply = head.data;
      if (reply.stampZxid) reply.frame.writeBigInt64BE(BigInt(this.lastZxid), 8);
      this.writeToClient(reply.frame);
      if (reply.closeAfter) {
        this.close('answered UNIMPLEMENTED and closed');
        return;
      }
    }
  }

  /** Queued until the end of the current chunk (flushWrites), so that one chunk costs one write. */
  private writeToClient(frame: Buffer): void {
    this.metrics.bytesOut.inc(frame.length);
    this.toClient.add(frame);
  }

  private flushWrites(): void {
    if (this.state === 'closed') return;
    const backend = this.backend?.socket;
    if (backend !== undefined && !this.toBackend.empty && !this.toBackend.flush(backend)) this.backendWaitsForDrain = true;
    if (!this.toClient.empty && !this.toClient.flush(this.client)) this.clientWaitsForDrain = true;
    if (this.backendWaitsForDrain || this.clientWaitsForDrain) this.updateFlow();
  }

  // ------------------------------------------------------------------ flow control and closing

  /** Reading stops on a side whose peer cannot take more: memory stays bounded by socket buffers. */
  private updateFlow(): void {
    if (this.state === 'closed') return;
    const pauseClient = this.state === 'connecting' || this.backendWaitsForDrain || this.held.length > 0 || this.tenant.limiter.memoryPaused;
    if (pauseClient) this.client.pause();
    else this.client.resume();
    const backend = this.backend?.socket;
    if (backend) {
      if (this.clientWaitsForDrain) backend.pause();
      else backend.resume();
    }
  }

  private backendLost(reason: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'relaying') this.metrics.root.backendLost.labels(this.tenant.name).inc();
    // Close the client promptly: it will reconnect and resume its session on another member.
    this.close(reason);
  }

  private refuse(reason: RefusalReason, detail: string): void {
    this.metrics.root.refused.labels(this.tenant.name, reason).inc();
    // A tenant can make the proxy refuse thousands of requests a second (a flood over its rate
    // limit): a line for each would cost the shared proxy enough to slow every other tenant.
    this.env.refusalLog.warn(`${this.tenant.name}/${reason}`, { reason, detail, session: sessionHex(this.sessionId) }, 'refused', this.log);
  }

  /** Closes both sides now (a drain closes sessions one by one through here). */
  close(reason: string): void {
    if (this.state === 'closed') {
      this.finish(reason);
      return;
    }
    // Replies already decided on (UNIMPLEMENTED before a close, an expired session's answer) go out first.
    if (!this.toClient.empty) this.toClient.flush(this.client);
    this.state = 'closed';
    clearTimeout(this.handshakeTimer);
    // A reason of our own: abort() without one builds a DOMException (a stack trace) per connection.
    this.abort?.abort(reason);
    // destroySoon lets replies already written reach the client before the FIN; a client that
    // stopped reading does not get to hold the socket open for long.
    this.client.destroySoon();
    setTimeout(() => this.client.destroy(), CLOSE_FLUSH_MS).unref();
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    const backend = this.backend;
    if (backend !== undefined) {
      backend.socket.destroy();
      this.env.onBackendClosed(backend.member.key);
    }
    if (this.sessionId !== undefined) this.metrics.root.sessionsActive.labels(this.tenant.name).dec();
    this.metrics.root.connectionsActive.labels(this.tenant.name).dec();
    // What this connection held against the tenant's limits is given back.
    let unanswered = 0;
    for (const pending of this.tracker.drain()) if (typeof pending.data === 'number' || (typeof pending.data === 'object' && 'settle' in pending.data)) unanswered++;
    if (unanswered > 0) this.tenant.limiter.done(unanswered);
    this.watches.clear();
    clearTimeout(this.holdTimer);
    this.tenant.limiter.cancelWait(this.releaseHeldBound);
    this.held = [];
    this.heldSince = [];
    this.heldBytes = 0;
    if (this.env.log.isLevelEnabled('info')) this.log.info({ session: sessionHex(this.sessionId), member: backend?.member.key, reason }, 'connection closed');
    this.onClose(this);
  }
}

