/**
 * Scenario 7's pieces: a client that pipelines watch-setting reads of a large node and never
 * reads a reply, and a probe that measures another client's request latency meanwhile.
 */
import { OpCode } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';

export interface StalledClient {
  /** Requests written so far (the proxy stops reading once its per-connection limits are hit). */
  readonly sent: number;
  close(): Promise<void>;
}

/** Sends `requests` getData(watch) of `path` as fast as the socket takes them, reading nothing. */
export async function startStalledClient(port: number, path: string, requests: number): Promise<StalledClient> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 30_000, keepAlive: false });
  client.socket.pause();
  let sent = 0;
  for (; sent < requests; sent++) {
    client.request(OpCode.getData, { path, watch: true }).catch(() => {}); // never answered: nothing is read
    // Let the event loop run when the kernel buffers are full, as a real writer blocks.
    if (client.socket.writableNeedDrain) await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
  return {
    get sent() {
      return sent;
    },
    close: async () => {
      client.socket.destroy();
    },
  };
}

export interface LatencyProbe {
  /** Round trips so far, ms. */
  readonly samples: number[];
  readonly errors: string[];
  stop(): Promise<void>;
}

/** A getData round trip of `path` every `intervalMs` on its own session through `port`. */
export async function startLatencyProbe(port: number, path: string, intervalMs = 50): Promise<LatencyProbe> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 30_000 });
  const samples: number[] = [];
  const errors: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      try {
        await client.call(OpCode.getData, { path, watch: false });
        samples.push(performance.now() - start);
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
        if (client.closed) return;
      }
      await new Promise<void>((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    samples,
    errors,
    stop: async () => {
      running = false;
      await loop;
      await client.close();
    },
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
