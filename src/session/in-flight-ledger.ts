/**
 * The one record of what a connection has in flight, in the client's xid order: requests sent to
 * the ensemble, the proxy's own requests (tenant authentication) and replies the proxy made itself
 * that wait for their turn. It answers "which request does this reply answer", "is this xid taken"
 * and "how many of the client's requests are unanswered" from the same entries.
 */
import { ConversationTracker, type PendingRequest } from 'jute-ts';

/** A forwarded request whose reply must update watch accounting. */
export interface Settled {
  readonly sentAt: number;
  settle(err: number): void;
}

/** A reply the proxy made itself, waiting for the replies ahead of it. */
export interface ProxyReply {
  readonly frame: Buffer;
  /** Close the connection once this reply is out (UNIMPLEMENTED, as the server does). */
  readonly closeAfter: boolean;
  /** Stamp the connection's highest zxid into the frame when it goes out (not when it was queued). */
  readonly stampZxid: boolean;
}

/** The reply to the proxy's own request: checked, never shown to the client. */
export const SWALLOW = Symbol('reply to the proxy itself');

/**
 * A client request sent (the performance.now() it left at; an object only for the few requests
 * that change watch accounting), the proxy's own request, or a reply of the proxy's own. For the
 * common request nothing is allocated but the tracker entry.
 */
export type InFlight = number | Settled | ProxyReply | typeof SWALLOW;

export function isClientRequest(data: InFlight): data is number | Settled {
  return typeof data === 'number' || (typeof data === 'object' && 'settle' in data);
}

export class InFlightLedger {
  private readonly tracker = new ConversationTracker<InFlight>();
  /** Client xids (>= 0) with a request or a proxy-made reply pending; made on first use (idle connections have none). */
  private xidSet: Set<number> | undefined;
  private clientRequests = 0;

  /** Entries of every kind. */
  get size(): number {
    return this.tracker.size;
  }

  /** The client's requests sent and not yet answered (pings and auth included). */
  get unanswered(): number {
    return this.clientRequests;
  }

  /** Whether a request or proxy reply with this client xid is pending. */
  holds(xid: number): boolean {
    return this.xidSet?.has(xid) === true;
  }

  /** A client request sent to the ensemble, under the xid its reply will carry. */
  sent(replyXid: number, opcode: number, data: number | Settled): void {
    this.tracker.request(replyXid, opcode, data);
    if (replyXid >= 0) (this.xidSet ??= new Set()).add(replyXid);
    this.clientRequests++;
  }

  /** The proxy's own request on the client's connection. */
  sentForProxy(xid: number, opcode: number): void {
    this.tracker.request(xid, opcode, SWALLOW);
  }

  /** A reply of the proxy's own, behind every entry pending now. */
  queue(xid: number, reply: ProxyReply): void {
    this.tracker.request(xid, -1, reply);
    if (xid >= 0) (this.xidSet ??= new Set()).add(xid);
  }

  /** The entry the ensemble's reply with `xid` answers, removed; undefined when none is pending. */
  answered(xid: number): PendingRequest<InFlight> | undefined {
    const pending = this.tracker.reply(xid);
    if (pending !== undefined && isClientRequest(pending.data)) {
      this.xidSet?.delete(xid);
      this.clientRequests--;
    }
    return pending;
  }

  /** The oldest entry, left in place. */
  oldest(): PendingRequest<InFlight> | undefined {
    return this.tracker.peek();
  }

  /** The oldest entry when it is a reply of the proxy's own (its turn has come), removed. */
  nextProxyReply(): ProxyReply | undefined {
    const head = this.tracker.peek();
    if (head === undefined || typeof head.data !== 'object' || !('frame' in head.data)) return undefined;
    this.tracker.shift();
    this.xidSet?.delete(head.xid);
    return head.data;
  }

  /** Forgets everything (the connection closed); returns how many client requests were unanswered. */
  clear(): number {
    const unanswered = this.clientRequests;
    this.tracker.drain();
    this.xidSet = undefined;
    this.clientRequests = 0;
    return unanswered;
  }
}
