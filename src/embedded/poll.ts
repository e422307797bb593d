import { setTimeout as sleep } from 'node:timers/promises';

export interface PollOptions {
  /** Absolute time (Date.now() scale) after which polling gives up. */
  deadline: number;
  intervalMs?: number;
  /** Names the awaited condition in the timeout error. */
  description: string;
}

/**
 * Calls `attempt` until it returns a value other than undefined or the deadline passes.
 * An attempt that throws counts as "not yet"; its error is reported if time runs out.
 */
export async function pollUntil<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      if (error instanceof PollAbort) throw error.cause;
      lastError = error;
    }
    if (Date.now() + intervalMs > options.deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out waiting for ${options.description}${detail}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/** Thrown from an attempt to stop polling at once because waiting longer cannot help. */
export class PollAbort extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}
