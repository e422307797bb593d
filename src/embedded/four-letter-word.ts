import { connect } from 'node:net';

/**
 * Sends a ZooKeeper four-letter-word command to `host:port` and returns the full reply.
 *
 * The server answers and then closes the connection, so the reply is whatever arrived before
 * EOF. A word that is not whitelisted still gets a (refusal) reply; a paused or dead server gets
 * none, hence the timeout.
 */
export function sendFourLetterWord(host: string, port: number, word: string, timeoutMs = 2_000): Promise<string> {
  if (!/^[a-z]{4}$/.test(word)) throw new Error(`not a four-letter word: ${JSON.stringify(word)}`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`'${word}' to ${host}:${port} timed out after ${timeoutMs} ms`));
    });
    socket.once('connect', () => socket.write(word));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

const SERVER_MODES = ['leader', 'follower', 'observer', 'standalone', 'read-only'] as const;
export type ServerMode = (typeof SERVER_MODES)[number];

/** Extracts the `Mode:` line of a `srvr`/`stat` reply; undefined while the server is not serving. */
export function parseServerMode(srvrReply: string): ServerMode | undefined {
  const mode = /^Mode: (\S+)/m.exec(srvrReply)?.[1];
  return SERVER_MODES.find((known) => known === mode);
}
