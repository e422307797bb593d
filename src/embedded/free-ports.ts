import { createServer, type Server } from 'node:net';

/**
 * Returns `count` distinct TCP ports that were free on `host` a moment ago.
 *
 * All listeners are held open until every port is known: closing each one before binding the
 * next would let the kernel hand the same port out twice, and an ensemble needs 3 ports per
 * member that must not collide with each other.
 */
export async function reserveFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      servers.push(await listenOnAnyPort(host));
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

function listenOnAnyPort(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => resolve(server));
  });
}
