/** pino JSON logs. Serve logs to stdout (containers collect it); dev keeps stdout for its JSON line. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    { level, base: { service: 'zookeeper-proxy' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: destination === 'stdout' ? 1 : 2, sync: false }),
  );
}

/** Session ids are 64-bit and logged in hex, as ZooKeeper's own logs show them. */
export function sessionHex(sessionId: bigint | undefined): string | undefined {
  return sessionId === undefined ? undefined : `0x${BigInt.asUintN(64, sessionId).toString(16)}`;
}
