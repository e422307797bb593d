/**
 * Keeps many ZooKeeper requests in flight on one session without letting a 10,000-node walk put
 * 10,000 nodes' worth of data in memory at once: at most `limit` tasks run, and a task may add
 * more (a node's children) while it runs. The first failure stops new tasks from starting and is
 * what drain() rejects with, once the running ones have settled.
 */
export class TaskPool {
  private readonly limit: number;
  private readonly signal: AbortSignal | undefined;
  private readonly waiting: (() => Promise<void>)[] = [];
  private running = 0;
  private failure: { error: unknown } | undefined;
  private idle: (() => void) | undefined;

  constructor(limit: number, signal?: AbortSignal) {
    this.limit = Math.max(1, limit);
    this.signal = signal;
  }

  add(task: () => Promise<void>): void {
    this.waiting.push(task);
    this.startWaiting();
  }

  /** Resolves when every task (added before or during the wait) has finished. */
  async drain(): Promise<void> {
    if (this.running > 0 || this.waiting.length > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.failure) throw this.failure.error;
    this.signal?.throwIfAborted();
  }

  private startWaiting(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      if (this.failure || this.signal?.aborted) {
        this.waiting.length = 0;
        break;
      }
      const task = this.waiting.shift()!;
      this.running++;
      task().then(
        () => this.settle(),
        (error: unknown) => {
          this.failure ??= { error };
          this.settle();
        },
      );
    }
    if (this.running === 0 && this.waiting.length === 0) {
      const idle = this.idle;
      this.idle = undefined;
      idle?.();
    }
  }

  private settle(): void {
    this.running--;
    this.startWaiting();
  }
}

/** Applies `fn` to every item with at most `limit` calls in flight; results in item order. */
export async function mapPipelined<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const pool = new TaskPool(limit);
  items.forEach((item, index) => pool.add(async () => void (results[index] = await fn(item))));
  await pool.drain();
  return results;
}
