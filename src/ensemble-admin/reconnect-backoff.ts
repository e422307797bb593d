/** When the proxy's own sessions (registry watch, replica record) try again: 200 ms doubling to 10 s. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class ReconnectBackoff {
  private readonly connect: () => void;
  private delayMs = RETRY_MIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(connect: () => void) {
    this.connect = connect;
  }

  /** The wait before the next attempt (for log lines). */
  get nextMs(): number {
    return this.delayMs;
  }

  /** A session opened: the next loss is retried quickly again. */
  succeeded(): void {
    this.delayMs = RETRY_MIN_MS;
  }

  schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.connect, this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(RETRY_MAX_MS, this.delayMs * 2);
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
