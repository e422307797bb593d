/**
 * A client request on its way to the ensemble, once admitted: the opcode's policy (refused or
 * forwarded), the xid rules, path and ACL mapping into the tenant, the size check on the mapped
 * frame, and watch accounting. Each request is parsed once, by the mapping; the stages after it
 * read the mapped server paths the mapper saw.
 */
import {
  decodeRequest,
  encodeRequest,
  ErrorCode,
  isProtocolError,
  mapFields,
  OpCode,
  opcodeName,
  ProtocolError,
  Rejection,
  requestOpcode,
  requestXid,
  Xid,
  type FieldMappers,
  type MapContext,
} from 'jute-ts';
import type { WatchEffect, WatchLedger } from '../limits/watch-ledger.ts';
import type { RefusalReason, TenantMetrics } from '../observability/metrics.ts';
import type { ClientIdentities } from '../tenancy/client-identities.ts';
import type { DigestIdentity } from '../tenancy/credentials.ts';
import type { Tenant } from '../tenancy/tenant.ts';
import type { InFlightLedger, Settled } from './in-flight-ledger.ts';
import { opPolicy, refusalOf } from './op-policy.ts';
import type { ReplySequencer } from './reply-sequencer.ts';
import type { WriteBatch } from './write-batch.ts';

export interface RequestPipelineOptions {
  /** Forward SASL (opcode 102) instead of refusing it. */
  allowSasl: boolean;
  maxFrameBytes: number;
  /** The ensemble's jute.maxbuffer: no request leaves the proxy larger than this. */
  ensembleMaxFrameBytes: number;
}

/** addAuth schemes counted by name in zkproxy_client_auth_total; any other is "other" (bounded labels). */
const AUTH_SCHEME_LABELS = new Set(['digest', 'ip', 'x509', 'sasl']);

const REQUEST_CONTEXT: MapContext = { direction: 'request' };

export interface RequestHost {
  /** The proxy answered or dropped a request itself: counted and (rate-limited) logged. */
  refuse(reason: RefusalReason, detail: string): void;
}

export class RequestPipeline {
  private readonly tenant: Tenant;
  private readonly options: RequestPipelineOptions;
  private readonly identities: ClientIdentities;
  private readonly watches: WatchLedger;
  private readonly metrics: TenantMetrics;
  private readonly ledger: InFlightLedger;
  private readonly replies: ReplySequencer;
  private readonly toBackend: WriteBatch;
  private readonly host: RequestHost;
  private readonly mappers: FieldMappers;
  /** Server paths the mapper produced for the current request, while watch accounting needs them. */
  private collecting = false;
  private mappedPaths: string[] | undefined;
  private sessionEnded = false;

  constructor(
    tenant: Tenant,
    options: RequestPipelineOptions,
    identities: ClientIdentities,
    watches: WatchLedger,
    metrics: TenantMetrics,
    ledger: InFlightLedger,
    replies: ReplySequencer,
    toBackend: WriteBatch,
    host: RequestHost,
  ) {
    this.tenant = tenant;
    this.options = options;
    this.identities = identities;
    this.watches = watches;
    this.metrics = metrics;
    this.ledger = ledger;
    this.replies = replies;
    this.toBackend = toBackend;
    this.host = host;
    const toServer = tenant.chroot.toServer;
    this.mappers = {
      path: (path, createFlags, field) => {
        const mapped = toServer(path, createFlags, field);
        if (this.collecting && typeof mapped === 'string') (this.mappedPaths ??= []).push(field, mapped);
        return mapped;
      },
      acl: tenant.acl.toServerFor(identities),
    };
  }

  /** closeSession went out: whatever the client sends after it is not forwarded. */
  get ended(): boolean {
    return this.sessionEnded;
  }

  /**
   * The request that authenticates the backend session as `identity`, to be sent right behind the
   * ConnectRequest and ahead of the client's requests (as ZooKeeper's Java client sends its auth
   * packets: one write, no round trip); its reply is swallowed in xid order.
   */
  authentication(identity: DigestIdentity): Buffer {
    this.ledger.sentForProxy(Xid.auth, OpCode.auth);
    return authFrame(identity);
  }

  /** Forwards a request (rewritten); false when the proxy answered it itself instead. */
  forward(frame: Buffer): boolean {
    // The frame reader guarantees the prefix matches; only the header size needs checking.
    if (frame.length < 12) throw new ProtocolError('truncated', `request of ${frame.length - 4} bytes has no header`, { offset: 0 });
    const xid = requestXid(frame);
    const opcode = requestOpcode(frame);
    this.metrics.request(opcode);
    if (this.sessionEnded) return false; // the session is closed; what follows goes nowhere
    if (xid === Xid.notification) {
      // The ensemble's answer would carry xid -1 too and pass for a watch event: not a client's to send.
      throw new ProtocolError('invalidValue', 'a request with xid -1, which only watch notifications use');
    }
    const policy = opPolicy(opcode);
    // Replies are matched to requests by xid; two in flight with the same one could be mapped as
    // each other's opcode (a path left unmapped). Real clients never do it; pings and auth share
    // their special xids by design and are answered alike.
    if (xid >= 0 && policy.replyXid === undefined && this.ledger.holds(xid))
      throw new ProtocolError('invalidValue', `xid ${xid} is already in flight on this connection`);
    const refusal = refusalOf(policy, this.options);
    if (refusal !== undefined) {
      const unimplemented = refusal.code === ErrorCode.UNIMPLEMENTED;
      this.host.refuse(unimplemented ? 'unimplemented' : 'policy', `${opcodeName(opcode)}: ${refusal.reason}`);
      // ZooKeeper's own UNIMPLEMENTED reply carries zxid -1.
      this.replies.answer(xid, refusal.code, refusal.close, unimplemented ? -1 : undefined);
      return false;
    }
    this.collecting = this.watches.concerns(policy.watches, frame);
    if (this.mappedPaths !== undefined) this.mappedPaths.length = 0;
    let mapped: Buffer | Rejection;
    try {
      if (policy.inspect === 'auth') this.noteAuth(frame);
      mapped = mapFields(frame, REQUEST_CONTEXT, this.mappers);
    } catch (error) {
      if (!isProtocolError(error)) throw error;
      // A header we understood with a body we cannot parse: ZooKeeper answers MARSHALLINGERROR.
      this.metrics.decodeError('client', error.kind);
      this.host.refuse('malformed', `${opcodeName(opcode)}: ${error.message}`);
      this.replies.answer(xid, ErrorCode.MARSHALLINGERROR, false);
      return false;
    } finally {
      this.collecting = false;
    }
    if (mapped instanceof Rejection) {
      this.host.refuse(mapped.code === ErrorCode.BADARGUMENTS ? 'bad_path' : 'policy', `${opcodeName(opcode)}: ${mapped.reason}`);
      this.replies.answer(xid, mapped.code, false);
      return false;
    }
    // The chroot prefix (and the tenant's ACL identity) make a frame longer: one that fitted the
    // limit on the way in may not on the way out. It never leaves the proxy above either limit
    // (the ensemble would close the connection, taking the session's other requests with it).
    const limit = Math.min(this.options.maxFrameBytes, this.options.ensembleMaxFrameBytes);
    if (mapped.length - 4 > limit) {
      this.host.refuse('frame_too_large', `${opcodeName(opcode)}: ${mapped.length - 4} bytes once rewritten, above the limit of ${limit}`);
      this.replies.answer(xid, ErrorCode.BADARGUMENTS, false);
      return false;
    }
    const paths = this.mappedPaths;
    const inFlight =
      paths === undefined || paths.length === 0 ? performance.now() : this.watchAccounting(policy.watches, opcode, xid, mapped, paths);
    if (inFlight === undefined) return false;
    if (policy.endsSession === true) this.sessionEnded = true;
    // ZooKeeper answers a ping with xid -2 whatever xid it carried: track it under the xid of its
    // reply, or the entry would stay in flight forever, holding back the proxy's own replies and
    // matching a later reply with that xid (which would then skip its path and ACL mapping).
    this.ledger.sent(policy.replyXid ?? xid, opcode, inFlight);
    this.toBackend.add(mapped);
    return true;
  }

  /** Counts the watches a request registers (or removes once answered); undefined when it was refused for the tenant's watch limit. */
  private watchAccounting(
    effect: WatchEffect,
    opcode: number,
    xid: number,
    mapped: Buffer,
    paths: readonly string[],
  ): number | Settled | undefined {
    const sentAt = performance.now();
    if (effect === 'remove') {
      const { type, serverPath } = this.watches.removal(mapped, paths);
      return { sentAt, settle: (err) => err === ErrorCode.OK && this.watches.removed(type, serverPath) };
    }
    const newWatches = this.watches.wouldAdd(effect, mapped, paths);
    if (newWatches.length === 0) return sentAt;
    const { maxWatches } = this.tenant.limiter.limits;
    if (maxWatches > 0 && this.tenant.limiter.watches + newWatches.length > maxWatches) {
      this.host.refuse('watch_limit', `${opcodeName(opcode)} would exceed the tenant's ${maxWatches} watches`);
      this.replies.answer(xid, ErrorCode.QUOTAEXCEEDED, false);
      return undefined;
    }
    this.watches.add(newWatches);
    return { sentAt, settle: (err) => this.watches.settle(opcode, err, newWatches) };
  }

  /** A client's addAuth: a digest identity is recorded (it expands the client's `auth` ACL entries). */
  private noteAuth(frame: Buffer): void {
    const body = decodeRequest(frame).body as { scheme: string; auth: Buffer | null };
    if (body.scheme === 'digest') this.identities.addDigest(body.auth ?? Buffer.alloc(0));
    this.metrics.clientAuth(AUTH_SCHEME_LABELS.has(body.scheme) ? body.scheme : 'other');
  }
}

/** An identity's auth request, encoded once: a tenant's every backend session sends the same bytes. */
const authFrames = new WeakMap<DigestIdentity, Buffer>();

function authFrame(identity: DigestIdentity): Buffer {
  let frame = authFrames.get(identity);
  if (frame === undefined) {
    const auth = Buffer.from(`${identity.user}:${identity.password}`);
    frame = encodeRequest({ xid: Xid.auth, opcode: OpCode.auth, body: { type: 0, scheme: 'digest', auth } });
    authFrames.set(identity, frame);
  }
  return frame;
}
