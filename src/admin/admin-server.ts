/** The admin HTTP listener: liveness, readiness and Prometheus metrics. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/config.ts';
import type { ProxyMetrics } from '../observability/metrics.ts';

export interface AdminState {
  /** Ensemble reachable and not draining. */
  ready(): Promise<{ ready: boolean; reason?: string }>;
  describe(): unknown;
}

export class AdminServer {
  private readonly server: Server;

  constructor(metrics: ProxyMetrics, state: AdminState) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
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
          metrics.registry.metrics().then(
            (text) => send(200, text, metrics.registry.contentType),
            (error: Error) => send(500, `${error.message}\n`),
          );
          return;
        case '/admin/state':
          return send(200, `${JSON.stringify(state.describe(), null, 2)}\n`, 'application/json');
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
