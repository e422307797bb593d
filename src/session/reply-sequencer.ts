/**
 * Replies on their way to the client, in the client's xid order: the ensemble's replies matched
 * to their requests and mapped back out of the tenant's chroot, watch events, and replies the
 * proxy makes itself, which wait behind replies still in flight from the ensemble and carry the
 * connection's latest zxid when they go out.
 */
import {
  decodeReply,
  encodeReply,
  encodeReplyHeader,
  ErrorCode,
  errorName,
  lastMappedField,
  mapFields,
  opcodeName,
  peekWatcherEvent,
  ProtocolError,
  Rejection,
  replyErr,
  replyRecord,
  replyXid,
  replyZxidNumber,
  Xid,
  type FieldMappers,
  type FrameStream,
} from 'jute-ts';
import type { WatchLedger } from '../limits/watch-ledger.ts';
import type { Logger } from '../observability/logger.ts';
import type { TenantMetrics } from '../observability/metrics.ts';
import type { Tenant } from '../tenancy/tenant.ts';
import { isClientRequest, SWALLOW, type InFlightLedger } from './in-flight-ledger.ts';
import { opPolicy } from './op-policy.ts';

export interface ReplySink {
  /** Queues a frame for the client. */
  toClient(frame: Buffer): void;
  close(reason: string): void;
  /** A client request was answered by the ensemble: its admission slot goes back. */
  answered(): void;
  logger(): Logger;
  /** The client's address as the client sees it (whoAmI's ip entry). */
  clientAddress(): string | undefined;
}

/** The reply matched a request of the proxy's own, or closed the connection: nothing goes to the client. */
const HANDLED = Symbol('handled');

/** Length prefix and reply header (xid, zxid, err): what deciding to stream a reply needs. */
const REPLY_HEADER_BYTES = 20;

export class ReplySequencer implements FrameStream {
  readonly headerBytes = REPLY_HEADER_BYTES;
  private readonly tenant: Tenant;
  private readonly ledger: InFlightLedger;
  private readonly watches: WatchLedger;
  private readonly metrics: TenantMetrics;
  private readonly sink: ReplySink;
  private readonly x509Subject: string | undefined;
  private readonly context = { direction: 'reply' as const, opcode: undefined as number | undefined };
  private readonly mappers: FieldMappers;
  /**
   * Highest zxid the ensemble put in a reply on this connection; proxy-made replies reuse it.
   * A double: zxids stay far below 2^53 (epoch << 32 | counter), and no BigInt per reply.
   */
  private lastZxid = 0;
  /** A reply is being relayed piece by piece: proxy-made replies wait until it has ended. */
  private streaming = false;

  constructor(
    tenant: Tenant,
    ledger: InFlightLedger,
    watches: WatchLedger,
    metrics: TenantMetrics,
    sink: ReplySink,
    x509Subject: string | undefined,
  ) {
    this.tenant = tenant;
    this.ledger = ledger;
    this.watches = watches;
    this.metrics = metrics;
    this.sink = sink;
    this.x509Subject = x509Subject;
    this.mappers = { path: tenant.chroot.toClient, acl: tenant.acl.toClient };
  }

  /** A reply made by the proxy, behind every reply still in flight; `fixedZxid` instead of the connection's latest. */
  answer(xid: number, err: number, closeAfter: boolean, fixedZxid?: number): void {
    const frame = encodeReplyHeader(xid, BigInt(fixedZxid ?? this.lastZxid), err);
    if (this.ledger.size === 0 && !this.streaming) {
      this.sink.toClient(frame);
      if (closeAfter) this.sink.close(`answered ${errorName(err)} and closed`);
      return;
    }
    // Replies ahead of this one may carry newer zxids: a zxid taken now would go backwards.
    this.ledger.queue(xid, { frame, closeAfter, stampZxid: fixedZxid === undefined });
  }

  /** A frame from the ensemble. */
  onReply(frame: Buffer): void {
    if (frame.length < REPLY_HEADER_BYTES)
      throw new ProtocolError('truncated', `reply of ${frame.length - 4} bytes has no header`, { offset: 0 });
    const xid = replyXid(frame);
    let opcode: number | undefined;
    if (xid !== Xid.notification) {
      const matched = this.match(xid, replyErr(frame), replyZxidNumber(frame));
      if (matched === HANDLED) return;
      opcode = matched;
    } else if (this.watches.size > 0) {
      // A one-shot watch fired: it no longer counts against the tenant's watches.
      const event = peekWatcherEvent(frame);
      if (event !== undefined) this.watches.fired(event.type, event.path);
    }
    this.context.opcode = opcode;
    const mapped =
      opcode !== undefined && opPolicy(opcode).reply === 'own-identities'
        ? this.ownIdentitiesOnly(frame, opcode)
        : mapFields(frame, this.context, this.mappers);
    if (mapped instanceof Rejection) {
      // A server path outside the chroot must never reach the client.
      this.metrics.isolationDrop();
      this.sink
        .logger()
        .error(
          { xid, opcode: opcode === undefined ? 'notification' : opcodeName(opcode) },
          'withheld a frame carrying a path outside the tenant chroot',
        );
      if (xid === Xid.notification) return;
      this.sink.close('reply carried a path outside the tenant chroot');
      return;
    }
    this.sink.toClient(mapped);
    this.flushProxyReplies();
  }

  /**
   * A reply that did not arrive whole: relayed piece by piece, as it arrives, when nothing in it
   * needs rewriting (getData, exists, most errors: no path or ACL in the body) and it answers the
   * oldest request in flight. Only its header is read, to match the xid.
   */
  begin(header: Buffer): boolean {
    const xid = replyXid(header);
    if (xid < 0) return false; // notifications are mapped; pings and auth are small
    const oldest = this.ledger.oldest();
    if (oldest === undefined || oldest.xid !== xid || !isClientRequest(oldest.data)) return false;
    const err = replyErr(header);
    if (opPolicy(oldest.opcode).reply !== 'mapped') return false;
    const body = replyRecord(xid, err, oldest.opcode);
    if (body !== null && lastMappedField(body) >= 0) return false;
    if (this.match(xid, err, replyZxidNumber(header)) === HANDLED) return false;
    this.streaming = true;
    return true;
  }

  piece(bytes: Buffer, last: boolean): void {
    this.sink.toClient(bytes);
    if (!last) return;
    this.streaming = false;
    this.flushProxyReplies();
  }

  /** Settles the request the reply with `xid` answers: its opcode, or HANDLED when nothing is to be relayed. */
  private match(xid: number, err: number, zxid: number): number | undefined | typeof HANDLED {
    const pending = this.ledger.answered(xid);
    let opcode: number | undefined;
    if (pending === undefined) {
      // Pings and auth answered without a tracked request are harmless; anything else is a broken stream.
      if (xid !== Xid.ping && xid !== Xid.auth) {
        this.sink.close(`ensemble replied to xid ${xid}, which no request in flight has`);
        return HANDLED;
      }
    } else if (pending.data === SWALLOW) {
      if (err !== ErrorCode.OK) {
        this.sink.logger().error({ err: errorName(err), identity: this.tenant.identity.user }, 'the ensemble refused the tenant identity');
        this.sink.close('tenant authentication failed');
        return HANDLED;
      }
      this.flushProxyReplies();
      return HANDLED;
    } else {
      opcode = pending.opcode;
      const data = pending.data;
      if (typeof data === 'number') {
        this.metrics.observeLatency(opcode, (performance.now() - data) / 1000);
        this.sink.answered();
      } else if ('settle' in data) {
        this.metrics.observeLatency(opcode, (performance.now() - data.sentAt) / 1000);
        this.sink.answered();
        data.settle(err);
      }
    }
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    if (err !== ErrorCode.OK) this.metrics.replyError(err);
    return opcode;
  }

  /** whoAmI lists the client's own identities: not the tenant identity the proxy added, and the client's address, not the proxy's. */
  private ownIdentitiesOnly(frame: Buffer, opcode: number): Buffer {
    const reply = decodeReply(frame, opcode);
    if (reply.err !== ErrorCode.OK || reply.body === undefined) return frame;
    const infos = (reply.body.clientInfo as { authScheme: string | null; user: string | null }[] | null) ?? [];
    const own = infos.flatMap((info) => {
      if (info.authScheme === 'ip') return [{ authScheme: 'ip', user: this.sink.clientAddress()?.replace(/^::ffff:/, '') ?? null }];
      const shown = this.tenant.acl.shownClientInfo(info.authScheme, info.user, this.x509Subject);
      return shown === undefined ? [] : [shown];
    });
    return encodeReply({ ...reply, body: { clientInfo: own } }, opcode);
  }

  /** Sends the proxy's own replies whose turn has come. */
  private flushProxyReplies(): void {
    for (let reply = this.ledger.nextProxyReply(); reply !== undefined; reply = this.ledger.nextProxyReply()) {
      if (reply.stampZxid) reply.frame.writeBigInt64BE(BigInt(this.lastZxid), 8);
      this.sink.toClient(reply.frame);
      if (reply.closeAfter) {
        this.sink.close('answered UNIMPLEMENTED and closed');
        return;
      }
    }
  }
}
