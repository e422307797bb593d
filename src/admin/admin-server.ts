/**
 * The admin HTTP listener: liveness, readiness, Prometheus metrics, a JSON view of the tenants,
 * and the mutating endpoints (reload, drain), which need the admin token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/config.ts';

export interface AdminState {
  /** Ensemble reachable and not draining. */
  ready(): Promise<{ ready: boolean; reason?: string }>;
  describe(): unknown;
  metrics(): Promise<{ text: string; contentType: string }>;
  /** POST /admin/reload: re-read the configuration file; false when it was rejected. */
  reload(): Promise<boolean>;
  /** POST /admin/drain: start draining (readiness turns false, connections move away). */
  drain(): void;
}

export class AdminServer {
  private readonly server: Server;

  /** `token`: what mutating requests must present as `Authorization: Bearer <token>`; without one they are refused. */
  constructor(state: AdminState, token: string | undefined) {
    const tokenDigest = token === undefined ? undefined : createHash('sha256').update(token).digest();
    const authorized = (header: string | undefined) => {
      if (tokenDigest === undefined || header === undefined || !header.startsWith('Bearer ')) return false;
      // Digests have equal length, so the comparison takes the same time whatever was sent.
      return timingSafeEqual(createHash('sha256').update(header.slice('Bearer '.length)).digest(), tokenDigest);
    };
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method === 'POST' && (url.pathname === '/admin/reload' || url.pathname === '/admin/drain')) {
        if (tokenDigest === undefined) return send(403, 'mutating admin endpoints are disabled: no admin token is configured\n');
        if (!authorized(req.headers.authorization)) return send(401, 'missing or wrong admin token\n');
        if (url.pathname === '/admin/drain') {
          state.drain();
          return send(202, 'draining\n');
        }
        state.reload().then(
          (applied) =>
            send(applied ? 200 : 409, applied ? 'reloaded\n' : 'rejected: the last good configuration stays in force (see the log)\n'),
          (error: Error) => send(500, `${error.message}\n`),
        );
        return;
      }
      if (req.method !== 'GET') return send(405, 'method not allowed\n');
      switch (url.pathname) {
        case '/healthz':
          return send(200, 'ok\n');
        case '/readyz':
          state.ready().then(
            ({ ready, reason }) => send(ready ? 200 : 503, ready ? 'ready\n' : `not ready: ${reason}\n`),
            (error: Error) => send(503, `not ready: ${error.message}\n`),
          );
          return;
        case '/metrics':
          state.metrics().then(
            ({ text, contentType }) => send(200, text, contentType),
            (error: Error) => send(500, `${error.message}\n`),
          );
          return;
        case '/admin/state':
          Promise.resolve(state.describe()).then(
            (view) => send(200, `${JSON.stringify(view, null, 2)}\n`, 'application/json'),
            (error: Error) => send(500, `${error.message}\n`),
          );
          return;
        default:
          return send(404, 'not found\n');
      }
    });
  }

  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: address.host, port: address.port }, () => {
        const bound = this.server.address() as AddressInfo;
        resolve({ host: address.host, port: bound.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
