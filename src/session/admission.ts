/**
 * Admission: whether a client request may go to the ensemble now, under the tenant's rate and
 * in-flight limits and the connection's in-flight limit. A request that may not is held, in
 * order, with the client's reads paused (backpressure); held longer than `maxThrottleWaitMs` it
 * is answered THROTTLEDOP, as ZooKeeper's own request throttle does.
 *
 * While the tenant's move cut-over holds it (MoveHold), every request is held, pings too, and none
 * expires: the mover needs nothing in flight to the source ensemble, and the client must not see
 * an error for a pause of a few seconds. The throttle wait counts from the end of the hold.
 */
import { requestOpcode } from 'jute-ts';
import type { TenantLimiter } from '../limits/tenant-limiter.ts';
import type { MoveHold } from '../tenancy/move-hold.ts';
import type { InFlightLedger } from './in-flight-ledger.ts';
import { opPolicy } from './op-policy.ts';

/** Why a request was held: behind others already held, or the limit that was reached. */
export type HoldReason = 'queued' | 'connection_in_flight' | 'tenant_in_flight' | 'rate' | 'moving';

export interface AdmissionHost {
  /** Forwards an admitted request; false when the proxy answered it itself (its slot is given back). */
  forward(frame: Buffer): boolean;
  /** Answers a request held too long with THROTTLEDOP; it was not executed. */
  throttled(frame: Buffer, maxWaitMs: number): void;
  /** A request was held, and why. */
  held(reason: HoldReason): void;
  /** Whether held requests may be released now (the session is relaying). */
  relaying(): boolean;
  /** An error while releasing held requests (outside the host's own read loop). */
  failed(error: unknown): void;
  /** Released requests were handed on: flush writes, reconsider reading. */
  released(): void;
}

/** Shared by every connection that holds nothing (most): the first hold allocates its own. */
const NOTHING_HELD: Buffer[] = [];
const NO_TIMES: number[] = [];
Object.freeze(NOTHING_HELD);
Object.freeze(NO_TIMES);

export class Admission {
  private readonly limiter: TenantLimiter;
  private readonly ledger: InFlightLedger;
  private readonly host: AdmissionHost;
  private readonly move: MoveHold;
  /** Requests read but held back by a limit, oldest first (copied: they outlive their chunk). */
  private held: Buffer[] = NOTHING_HELD;
  private heldSince: number[] = NO_TIMES;
  private heldBytesNow = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly releaseBound = () => this.release();

  constructor(limiter: TenantLimiter, ledger: InFlightLedger, host: AdmissionHost, move: MoveHold) {
    this.limiter = limiter;
    this.move = move;
    this.ledger = ledger;
    this.host = host;
  }

  /** Whether requests are held (the client is then not read from). */
  get holding(): boolean {
    return this.held.length > 0;
  }

  get heldBytes(): number {
    return this.heldBytesNow;
  }

  /** A request from the client: forwarded now, or held (in order) until the limits allow it. */
  offer(frame: Buffer): void {
    const hold = this.move.active ? 'moving' : this.held.length > 0 ? 'queued' : this.admit(frame);
    if (hold !== undefined) {
      this.hold(frame, hold);
      return;
    }
    this.forwardAdmitted(frame);
  }

  /** A forwarded request was answered: its slot goes back to the tenant. */
  answered(): void {
    this.limiter.done();
  }

  /** Forwards held requests while the limits allow; answers THROTTLEDOP to those held too long. */
  release(): void {
    if (!this.host.relaying() || this.held.length === 0 || this.move.active) return;
    clearTimeout(this.timer);
    const maxWait = this.limiter.limits.maxThrottleWaitMs;
    const now = performance.now();
    try {
      while (this.held.length > 0) {
        const frame = this.held[0]!;
        // A ping, auth or closeSession waits behind the requests held before it (replies stay in
        // order) but never expires: THROTTLEDOP to a ping would keep the session from reaching
        // the ensemble, to auth or closeSession it would break the client (kazoo treats any
        // error on its auth xid as AUTH_FAILED).
        const expired = maxWait > 0 && opPolicy(requestOpcode(frame)).held !== 'never' && now - this.heldSince[0]! > maxWait;
        if (!expired && this.admit(frame) !== undefined) break;
        this.held.shift();
        this.heldSince.shift();
        this.heldBytesNow -= frame.length;
        if (expired) this.host.throttled(frame, maxWait);
        else this.forwardAdmitted(frame);
      }
      if (this.held.length > 0) this.schedule();
    } catch (error) {
      this.host.failed(error);
    } finally {
      this.host.released();
    }
  }

  /** The move's hold ended: what it held goes on, its wait not counted against maxThrottleWaitMs. */
  moveHoldEnded(): void {
    if (this.held.length === 0) return;
    this.heldSince.fill(performance.now());
    this.release();
  }

  /** The connection is gone: nothing held is sent, no wake-up stays registered. */
  close(): void {
    clearTimeout(this.timer);
    this.limiter.cancelWait(this.releaseBound);
    this.held = NOTHING_HELD;
    this.heldSince = NO_TIMES;
    this.heldBytesNow = 0;
  }

  /** Takes what forwarding one request needs (a token, in-flight room), or says what is missing. */
  private admit(frame: Buffer): HoldReason | undefined {
    if (opPolicy(requestOpcode(frame)).held === 'never') {
      this.limiter.inFlight++;
      return undefined;
    }
    if (this.ledger.unanswered >= this.limiter.limits.maxInFlightPerConnection) return 'connection_in_flight';
    return this.limiter.admit();
  }

  /**
   * Its slot is given back unless the request is now in flight, also when forwarding throws (a
   * malformed request closes the connection): a slot lost there would stay taken for the tenant
   * as long as the process lives.
   */
  private forwardAdmitted(frame: Buffer): void {
    let forwarded = false;
    try {
      forwarded = this.host.forward(frame);
    } finally {
      if (!forwarded) this.limiter.done();
    }
  }

  private hold(frame: Buffer, reason: HoldReason): void {
    if (this.held === NOTHING_HELD) (this.held = []), (this.heldSince = []);
    this.held.push(Buffer.from(frame));
    this.heldSince.push(performance.now());
    this.heldBytesNow += frame.length;
    this.host.held(reason);
    if (this.held.length === 1) this.schedule();
  }

  private schedule(): void {
    this.limiter.waitForCapacity(this.releaseBound);
    clearTimeout(this.timer);
    const maxWait = this.limiter.limits.maxThrottleWaitMs;
    if (maxWait === 0) return; // backpressure only
    // However long capacity takes, the oldest held request is answered THROTTLEDOP on time.
    const due = this.heldSince[0]! + maxWait - performance.now();
    this.timer = setTimeout(this.releaseBound, Math.max(0, due) + 1);
    this.timer.unref();
  }
}
