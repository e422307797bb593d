/**
 * One client connection and its one backend connection, wired through the session's stages:
 *
 *   client bytes → frames → handshake (handshake.ts) → admission (admission.ts: limits, held
 *   queue) → request pipeline (request-pipeline.ts: policy, mapping, size, watches) → ensemble
 *   ensemble bytes → frames → reply sequencer (reply-sequencer.ts: xid order, proxy-made replies,
 *   zxid) → client
 *
 * with one in-flight ledger (in-flight-ledger.ts) between them. This class owns the sockets, the
 * connection's state, flow control and teardown.
 *
 * Lifecycle: handshake (waiting for the ConnectRequest) → connecting (backend handshake, client
 * reads paused) → relaying → closed. Any backend loss closes the client promptly, so the client
 * reconnects (here or to another replica) and resumes the same session on another member.
 */
import type { Socket } from 'node:net';
import { ErrorCode, fourLetterWordOf, FrameReader, isProtocolError, ProtocolError, requestXid } from 'jute-ts';
import { connectBackend, NoBackendError, type BackendSession } from '../backend/connector.ts';
import type { EnsembleMembers, MemberState } from '../backend/members.ts';
import { WatchLedger } from '../limits/watch-ledger.ts';
import { sessionHex, type Logger } from '../observability/logger.ts';
import type { RefusalReason, TenantMetrics } from '../observability/metrics.ts';
import type { RateLimitedLog } from '../observability/rate-limited-log.ts';
import { ClientIdentities } from '../tenancy/client-identities.ts';
import { confirmEnsemblePassword, type SessionSeal } from '../tenancy/session-seal.ts';
import type { Tenant } from '../tenancy/tenant.ts';
import { Admission, type AdmissionHost, type HoldReason } from './admission.ts';
import { expiredConnectResponse, readConnectRequest, sealedConnectResponse } from './handshake.ts';
import { InFlightLedger } from './in-flight-ledger.ts';
import { ReplySequencer, type ReplySink } from './reply-sequencer.ts';
import { RequestPipeline, type RequestHost } from './request-pipeline.ts';
import { WriteBatch } from './write-batch.ts';

export interface SessionEnvironment {
  /** The name of the ensemble `members` belong to (the tenant's), for log lines. */
  ensemble: string;
  /** Which of the tenant's session seals applies (Tenant.sealOn): undefined on the home ensemble. */
  sealScope: string | undefined;
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

type State = 'handshake' | 'connecting' | 'relaying' | 'closed';

/** Frames a client may pipeline behind its ConnectRequest before the backend answers. */
const MAX_EARLY_FRAMES = 1024;
/** How long a closing connection may take to flush its last replies. */
const CLOSE_FLUSH_MS = 5000;

export class ClientSession implements AdmissionHost, ReplySink, RequestHost {
  readonly tenant: Tenant;
  /** `address:port` of the client, looked up when first logged (a getpeername per connection otherwise). */
  private remoteText: string | undefined;
  private readonly seal: SessionSeal;
  private readonly client: Socket;
  private readonly env: SessionEnvironment;
  private readonly metrics: TenantMetrics;
  private readonly onClose: (session: ClientSession) => void;
  /** Created on first use: at the default level an idle connection never logs (~0.4 KB each). */
  private childLog: Logger | undefined;
  private readonly clientReader: FrameReader;
  private readonly ledger = new InFlightLedger();
  private readonly watches: WatchLedger;
  private readonly admission: Admission;
  private readonly requests: RequestPipeline;
  private readonly replies: ReplySequencer;
  private readonly toBackend = new WriteBatch();
  private readonly clientWrites = new WriteBatch();
  private readonly onClientFrameBound = (frame: Buffer) => this.onClientFrame(frame);
  private readonly onBackendFrameBound = (frame: Buffer) => this.onBackendFrame(frame);
  private readonly onBackendDataBound = (chunk: Buffer) => this.onBackendData(chunk);
  /** Only while the backend handshake runs: an idle connection does not keep it (~0.5 KB). */
  private abort: AbortController | undefined;
  private state: State = 'handshake';
  private backend: BackendSession | undefined;
  private earlyFrames: Buffer[] = [];
  /** A handshake that a move's cut-over holds back (MoveHold): sent once the hold ends. */
  private heldConnect: { frame: Buffer; resumed: boolean } | undefined;
  private sessionId: bigint | undefined;
  /** performance.now() of the last bytes from the ensemble member. */
  private lastBackendDataAt = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeReason: string | undefined;
  private clientWaitsForDrain = false;
  private backendWaitsForDrain = false;
  private readonly x509Subject: string | undefined;

  /** `x509Subject`: the verified client certificate's subject DN (RFC 2253), on a TLS listener. */
  constructor(
    client: Socket,
    tenant: Tenant,
    env: SessionEnvironment,
    metrics: TenantMetrics,
    onClose: (session: ClientSession) => void,
    x509Subject?: string,
  ) {
    this.client = client;
    this.tenant = tenant;
    this.env = env;
    this.seal = tenant.sealOn(env.sealScope);
    this.metrics = metrics;
    this.onClose = onClose;
    this.clientReader = new FrameReader(env.maxFrameBytes);
    this.x509Subject = x509Subject;
    this.watches = new WatchLedger((delta) => (tenant.limiter.watches += delta));
    // The session is each stage's host: no per-connection callback objects (idle memory).
    this.replies = new ReplySequencer(tenant, this.ledger, this.watches, metrics, this, x509Subject);
    this.requests = new RequestPipeline(
      tenant,
      env,
      new ClientIdentities(x509Subject),
      this.watches,
      metrics,
      this.ledger,
      this.replies,
      this.toBackend,
      this,
    );
    this.admission = new Admission(tenant.limiter, this.ledger, this, tenant.hold);
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
    metrics.connectionsOpened.inc();
    metrics.connectionsActive.inc();
    if (env.log.isLevelEnabled('info')) this.log.info('connection opened');
  }

  get remote(): string {
    return (this.remoteText ??= `${this.client.remoteAddress}:${this.client.remotePort}`);
  }

  private get log(): Logger {
    return (this.childLog ??= this.env.log.child({ tenant: this.tenant.name, remote: this.remote }));
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Client and backend bytes this session holds in memory now (for the proxy's memory guard). */
  get bufferedBytes(): number {
    return (
      this.client.writableLength +
      (this.backend?.socket.writableLength ?? 0) +
      this.admission.heldBytes +
      this.clientReader.buffered +
      (this.backend?.reader.buffered ?? 0)
    );
  }

  /** The memory guard changed its mind: read again if nothing else holds this session back. */
  refreshFlow(): void {
    this.updateFlow();
  }

  // ------------------------------------------------------------------ stage callbacks (AdmissionHost, ReplySink, RequestHost)

  forward(frame: Buffer): boolean {
    return this.requests.forward(frame);
  }

  throttled(frame: Buffer, maxWaitMs: number): void {
    this.refuse('throttled', `held over ${maxWaitMs} ms`);
    // Like ZooKeeper's own request throttle (3.7+): the request was not executed.
    this.replies.answer(requestXid(frame), ErrorCode.THROTTLEDOP, false);
  }

  held(reason: HoldReason): void {
    this.metrics.held(reason);
    this.updateFlow();
  }

  relaying(): boolean {
    return this.state === 'relaying';
  }

  failed(error: unknown): void {
    this.onClientFrameError(error);
  }

  released(): void {
    this.flushWrites();
    this.updateFlow();
  }

  answered(): void {
    this.admission.answered();
  }

  logger(): Logger {
    return this.log;
  }

  clientAddress(): string | undefined {
    return this.client.remoteAddress;
  }

  // ------------------------------------------------------------------ client → ensemble

  private onClientData(chunk: Buffer): void {
    this.metrics.bytesIn.inc(chunk.length);
    // After closeSession the conversation is over: the rest is not even parsed, and the
    // replies still in flight reach the client before the ensemble closes the session.
    if (this.requests.ended) return;
    try {
      this.clientReader.push(chunk, this.onClientFrameBound);
    } catch (error) {
      this.onClientFrameError(error);
    } finally {
      this.flushWrites();
    }
  }

  private onClientFrameError(error: unknown): void {
    if (this.requests.ended) return; // bytes after closeSession in the same chunk: ignored, see onClientData
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
    this.metrics.decodeError('client', error.kind);
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
        if (this.earlyFrames.length >= MAX_EARLY_FRAMES)
          throw new ProtocolError('invalidValue', 'too many requests before the session was established');
        this.earlyFrames.push(Buffer.from(frame)); // it waits beyond the chunk it views
        return;
      case 'relaying':
        this.onRequest(frame);
        return;
      case 'closed':
        return;
    }
  }

  private onRequest(frame: Buffer): void {
    // Checked before a request can be held: a held one is answered by its xid.
    if (frame.length < 12) throw new ProtocolError('truncated', `request of ${frame.length - 4} bytes has no header`, { offset: 0 });
    this.admission.offer(frame);
  }

  private onConnectRequest(frame: Buffer): void {
    const verdict = readConnectRequest(frame, this.seal); // a ProtocolError closes the connection
    clearTimeout(this.handshakeTimer);
    if ('expired' in verdict) {
      this.refuse('policy', verdict.expired);
      this.toClient(expiredConnectResponse());
      this.close('session expired or invalid (password not sealed for this tenant on this ensemble)');
      return;
    }
    this.state = 'connecting';
    this.updateFlow();
    if (this.env.log.isLevelEnabled('debug')) {
      this.log.debug(
        { requested: verdict.sessionId === 0n ? 'new session' : `resume ${sessionHex(verdict.sessionId)}`, timeout: verdict.timeOut },
        'connect request',
      );
    }
    this.connect(verdict.forward, verdict.resumed);
  }

  /** The tenant's move cut-over ended: a held handshake and held requests go on. */
  moveHoldEnded(): void {
    if (this.state === 'closed') return;
    const connect = this.heldConnect;
    this.heldConnect = undefined;
    if (connect !== undefined) this.connect(connect.frame, connect.resumed);
    this.admission.moveHoldEnded();
  }

  private connect(connectFrame: Buffer, resumed: boolean): void {
    this.openBackend(connectFrame, resumed).catch((error: unknown) => {
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

  private async openBackend(connectFrame: Buffer, resumed: boolean): Promise<void> {
    await this.env.ensureTenantRoot(this.tenant);
    if (this.state !== 'connecting') return;
    const hold = this.tenant.hold;
    if (hold.active) {
      // Not even the handshake reaches the source ensemble during a cut-over: a session created
      // there now would be lost with the move.
      if (hold.expired) this.close('tenant held longer than moveHoldMaxMs');
      else {
        this.heldConnect = { frame: connectFrame, resumed };
        this.metrics.held('moving');
      }
      return;
    }
    // Authenticate as the tenant before anything of the client's: the ensemble's ACLs on the
    // tenant's nodes name this identity. A TLS client's own x509 identity too, which the ensemble
    // only knows by its digest stand-in.
    const greeting = [connectFrame, this.requests.authentication(this.tenant.identity)];
    if (this.x509Subject !== undefined) greeting.push(this.requests.authentication(this.tenant.x509IdentityOf(this.x509Subject)));
    this.abort = new AbortController();
    let backend: BackendSession;
    hold.handshakes++;
    try {
      backend = await connectBackend(
        this.env.members,
        Buffer.concat(greeting),
        {
          connectTimeoutMs: this.env.connectTimeoutMs,
          maxFrameBytes: this.env.maxFrameBytes,
          onAttemptFailed: (member, reason) => this.env.onBackendAttemptFailed(member.key, reason),
        },
        this.abort.signal,
      );
    } finally {
      this.abort = undefined;
      hold.handshakes--;
    }
    if (this.state !== 'connecting') {
      backend.socket.destroy();
      return;
    }
    this.backend = backend;
    this.env.onBackendOpened(backend.member.key);
    const socket = backend.socket;
    backend.reads.onData = this.onBackendDataBound;
    socket.on('drain', () => {
      this.backendWaitsForDrain = false;
      this.updateFlow();
    });
    socket.on('error', (error) => this.backendLost(`backend error: ${error.message}`));
    socket.on('close', () => this.backendLost('backend closed'));

    const { response } = backend;
    if (response.timeOut <= 0) {
      this.toClient(backend.responseFrame);
      // Expired or unknown session: the server closes next; so do we, after the answer is out.
      this.close('session expired or invalid');
      return;
    }
    this.toClient(sealedConnectResponse(backend.responseFrame, this.seal));
    this.sessionId = response.sessionId;
    if (!resumed && response.passwd !== null && !confirmEnsemblePassword(response.sessionId, response.passwd)) {
      this.log.error(
        "the ensemble's session passwords do not follow ZooKeeper's generatePasswd: resume passwords are no longer checked by the proxy (a tenant could make another tenant's connection drop by guessing its session id)",
      );
    }
    this.state = 'relaying';
    this.lastBackendDataAt = performance.now();
    this.metrics.sessionsActive.inc();
    if (this.env.log.isLevelEnabled('info')) {
      this.log.info(
        {
          session: sessionHex(response.sessionId),
          ensemble: this.env.ensemble,
          member: backend.member.key,
          timeout: response.timeOut,
          readOnly: response.readOnly === true,
        },
        'session established',
      );
    }
    const early = this.earlyFrames;
    this.earlyFrames = [];
    try {
      for (const frame of early) this.onRequest(frame);
    } catch (error) {
      this.onClientFrameError(error);
    } finally {
      this.flushWrites();
    }
    this.onBackendFrames(backend.framesAfterResponse);
    this.updateFlow();
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
    if (this.state !== 'relaying' || backend === undefined || this.ledger.size === 0) return;
    const silentMs = performance.now() - this.lastBackendDataAt;
    if (silentMs >= backend.response.timeOut / 3) this.env.onBackendSilent(backend.member, silentMs);
  }

  /** `chunk` views the backend's reused read buffer: valid only during this call (see ReadBuffer). */
  private onBackendData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastBackendDataAt = performance.now();
    const backend = this.backend!;
    this.handleBackend(() => backend.reader.push(chunk, this.onBackendFrameBound, this.replies));
    // Replies relayed as views of the chunk and not yet sent keep referencing it.
    if (this.client.writableLength > 0) backend.reads.lend();
  }

  /** Frames that came with the ConnectResponse. */
  private onBackendFrames(frames: readonly Buffer[]): void {
    if (frames.length === 0 || this.state === 'closed') return;
    this.handleBackend(() => {
      for (const frame of frames) this.onBackendFrame(frame);
    });
  }

  private handleBackend(read: () => void): void {
    try {
      read();
      // Replies freed in-flight room: requests held for it may go now.
      if (this.admission.holding) this.admission.release();
    } catch (error) {
      if (isProtocolError(error)) {
        this.metrics.decodeError('ensemble', error.kind);
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
    this.replies.onReply(frame);
  }

  /** Queued until the end of the current chunk (flushWrites), so that one chunk costs one write. */
  toClient(frame: Buffer): void {
    this.metrics.bytesOut.inc(frame.length);
    this.clientWrites.add(frame);
  }

  private flushWrites(): void {
    if (this.state === 'closed') return;
    const backend = this.backend?.socket;
    if (backend !== undefined && !this.toBackend.empty && !this.toBackend.flush(backend)) this.backendWaitsForDrain = true;
    if (!this.clientWrites.empty && !this.clientWrites.flush(this.client)) this.clientWaitsForDrain = true;
    if (this.backendWaitsForDrain || this.clientWaitsForDrain) this.updateFlow();
  }

  // ------------------------------------------------------------------ flow control and closing

  /** Reading stops on a side whose peer cannot take more: memory stays bounded by socket buffers. */
  private updateFlow(): void {
    if (this.state === 'closed') return;
    const pauseClient =
      this.state === 'connecting' || this.backendWaitsForDrain || this.admission.holding || this.tenant.limiter.memoryPaused;
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
    if (this.state === 'relaying') this.metrics.backendLost.inc();
    // Close the client promptly: it will reconnect and resume its session on another member.
    this.close(reason);
  }

  refuse(reason: RefusalReason, detail: string): void {
    this.metrics.refused(reason);
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
    if (!this.clientWrites.empty) this.clientWrites.flush(this.client);
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
    if (this.sessionId !== undefined) this.metrics.sessionsActive.dec();
    this.metrics.connectionsActive.dec();
    // What this connection held against the tenant's limits is given back.
    const unanswered = this.ledger.clear();
    if (unanswered > 0) this.tenant.limiter.done(unanswered);
    this.watches.clear();
    this.admission.close();
    if (this.env.log.isLevelEnabled('info'))
      this.log.info(
        { session: sessionHex(this.sessionId), ensemble: backend && this.env.ensemble, member: backend?.member.key, reason },
        'connection closed',
      );
    this.onClose(this);
  }
}
