/**
 * The live state of one tenant's limits inside this proxy process: connections, requests in
 * flight, watch registrations, and the request-rate token bucket shared by all its connections.
 * Sessions ask it for admission; when they must wait, they register a wake-up.
 */
import type { Limits } from './limits.ts';
import { TokenBucket } from './token-bucket.ts';

/** Why a request may not be forwarded now. */
export type Hold = 'rate' | 'tenant_in_flight' | undefined;

export class TenantLimiter {
  limits: Limits;
  connections = 0;
  inFlight = 0;
  watches = 0;
  /** Set by the proxy's memory guard: the tenant holds more than its share of the buffer budget; its clients are not read. */
  memoryPaused = false;
  readonly bucket: TokenBucket;
  private readonly waiters = new Set<() => void>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeQueued = false;
  private readonly wakeQueuedBound = () => {
    this.wakeQueued = false;
    this.wake();
  };

  constructor(limits: Limits, now?: () => number) {
    this.limits = limits;
    this.bucket = new TokenBucket(rateOf(limits), limits.burst, now);
  }

  reconfigure(limits: Limits): void {
    this.limits = limits;
    this.bucket.reconfigure(rateOf(limits), limits.burst);
    this.wake();
  }

  tryOpenConnection(): boolean {
    if (this.limits.maxConnections > 0 && this.connections >= this.limits.maxConnections) return false;
    this.connections++;
    return true;
  }

  closeConnection(): void {
    this.connections--;
  }

  /** Takes what forwarding one request needs (a token, an in-flight slot), or says what is missing. */
  admit(): Hold {
    if (this.inFlight >= this.limits.maxInFlightPerTenant) return 'tenant_in_flight';
    if (!this.bucket.tryTake()) return 'rate';
    this.inFlight++;
    return undefined;
  }

  /** A forwarded request was answered (or its connection is gone). */
  done(count = 1): void {
    this.inFlight -= count;
    // Waiters are woken once the caller is done, never from inside it: a session that is
    // handling a reply would otherwise answer its own held requests (THROTTLEDOP) before
    // writing that reply, out of xid order.
    if (this.waiters.size > 0 && !this.wakeQueued) {
      this.wakeQueued = true;
      queueMicrotask(this.wakeQueuedBound);
    }
  }

  /** Calls `wake` once capacity may be there again (a reply arrived, tokens refilled, limits changed). */
  waitForCapacity(wake: () => void): void {
    this.waiters.add(wake);
    if (this.wakeTimer === undefined) {
      const ms = Math.max(1, Math.ceil(this.bucket.msUntilToken()));
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = undefined;
        this.wake();
      }, ms);
      this.wakeTimer.unref();
    }
  }

  cancelWait(wake: () => void): void {
    this.waiters.delete(wake);
  }

  private wake(): void {
    if (this.wakeTimer !== undefined) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
    }
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}

function rateOf(limits: Limits): number {
  return limits.requestsPerSecond === 0 ? Infinity : limits.requestsPerSecond;
}
