import zookeeper from 'node-zookeeper-client';

/**
 * Proves that `connectString` serves requests: opens a real client session (which the leader has
 * to commit, so it needs a working quorum), reads `/`, closes the session.
 *
 * `srvr` alone is not enough: a follower whose leader just died keeps answering "Mode: follower"
 * until it notices, while session creation through it already fails.
 */
export function probeSession(connectString: string, timeoutMs: number): Promise<void> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 4_000, spinDelay: 100, retries: 0 });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no session with ${connectString} within ${timeoutMs} ms`)), timeoutMs);
    client.once('connected', () => {
      client.exists('/', (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
    client.connect();
  }).finally(() => client.close());
}
