/**
 * Warnings that a flood could repeat thousands of times a second (limit hits, bad input) are
 * logged at most once per key and interval, with the number suppressed since the last one.
 */
import type { Logger } from './logger.ts';

export class RateLimitedLog {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(log: Logger, intervalMs: number) {
    this.log = log;
    this.intervalMs = intervalMs;
  }

  /** `log`: the logger that writes the line when it is not suppressed (a child, for its bindings). */
  warn(key: string, fields: Record<string, unknown>, message: string, log: Logger = this.log): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry !== undefined && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    log.warn({ ...fields, suppressedSinceLast: entry?.suppressed ?? 0 }, message);
    this.last.set(key, { at: now, suppressed: 0 });
    // Keys are tenants and reasons: bounded; still, forget the old ones now and then.
    if (this.last.size > 10_000) for (const [k, v] of this.last) if (now - v.at > this.intervalMs) this.last.delete(k);
  }
}
