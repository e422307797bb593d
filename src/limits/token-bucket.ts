/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Time comes from a clock so
 * tests can drive it; nothing here schedules anything.
 */
export class TokenBucket {
  rate: number;
  burst: number;
  private tokens: number;
  private updatedAt: number;
  private readonly now: () => number;

  constructor(rate: number, burst: number, now: () => number = () => performance.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.now = now;
    this.updatedAt = now();
  }

  /** Takes one token if there is one. An infinite rate never runs out. */
  tryTake(): boolean {
    if (this.rate === Infinity) return true;
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until the next token is there (0 when one is there now). */
  msUntilToken(): number {
    if (this.rate === Infinity) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.rate) * 1000;
  }

  /** New rate and burst (a limit changed); tokens already saved stay, capped at the new burst. */
  reconfigure(rate: number, burst: number): void {
    this.refill();
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const now = this.now();
    const elapsed = now - this.updatedAt;
    this.updatedAt = now;
    if (elapsed > 0) this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.rate);
  }
}
