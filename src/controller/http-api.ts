/**
 * The controller's HTTP API: the CLI's operations as JSON over HTTP, every /v1 route behind
 * `Authorization: Bearer <token>`. Writes record desired state and answer 202; the leader
 * converges (GET the tenant until `reconcile.converged` is true). The same listener serves the
 * console (GET / and /console/): a page that calls these routes with the token the user typed,
 * sent as that header from memory; no cookie is set, so another site's page cannot borrow it (CSRF).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { ConsoleFiles } from './console-files.ts';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from './errors.ts';
import type { ControllerOperations } from './operations.ts';
import { CLUSTER_DEFAULTS, CLUSTER_MINIMUMS, FLINK_VERSIONS, checkTenantName } from './spec.ts';
import { tenantTraffic } from './traffic.ts';

const MAX_BODY_BYTES = 64 * 1024;

export interface ApiBackend {
  /** The operations of the current session; undefined while the replica reconnects (503). */
  operations(): ControllerOperations | undefined;
  health(): Promise<Record<string, unknown>>;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Handler = (ops: ControllerOperations, params: string[], body: unknown, query: URLSearchParams) => Promise<[number, unknown]>;

/** `?dryRun=true`: render and validate only (200 with the preview); absent or `false`: apply (202). */
function dryRun(query: URLSearchParams): boolean {
  const value = query.get('dryRun');
  if (value === null || value === 'false') return false;
  if (value === 'true') return true;
  throw new ValidationError([`dryRun ${JSON.stringify(value)} must be true or false`]);
}

const deployCluster: Handler = async (ops, [name], body, query) =>
  dryRun(query) ? [200, await ops.deployDryRun(name!, body)] : [202, await ops.deploy(name!, body)];

/** What the console's forms need: versions, zones, defaults and minimums (the API enforces the same), the ensembles. */
const platform: Handler = async (ops) => {
  const { zones, defaultZone } = ops.settings.platform;
  return [
    200,
    {
      flinkVersions: FLINK_VERSIONS,
      zones,
      defaultZone,
      defaults: CLUSTER_DEFAULTS,
      minimums: CLUSTER_MINIMUMS,
      traffic: ops.settings.controller.http.proxyAdmin.length > 0,
      /** The ensembles a tenant may be placed on, home first (GET /v1/ensembles measures them). */
      ensembles: ops.ensembles.names,
    },
  ];
};

const traffic: Handler = async (ops, [name]) => {
  await ops.status(name!); // 404 for an unknown tenant
  const proxies = ops.settings.controller.http.proxyAdmin;
  if (proxies.length === 0) throw new NotFoundError('no proxy admin address configured (controller.http.proxyAdmin)');
  return [200, await tenantTraffic(name!, proxies)];
};

/** POST /v1/tenants/<name>/move {"to": "<ensemble>"}: recorded and started (202), run by this replica. */
const startMove =
  (log: Logger): Handler =>
  async (ops, [name], body) => [
    202,
    await ops.startMove(name!, objectBody(body), (error) => log.error({ tenant: name, err: error.message }, 'tenant move failed')),
  ];

const routes = (log: Logger): { method: string; pattern: RegExp; handler: Handler }[] => [
  ...ROUTES,
  { method: 'POST', pattern: /^\/v1\/tenants\/([^/]+)\/move$/, handler: startMove(log) },
  { method: 'GET', pattern: /^\/v1\/tenants\/([^/]+)\/move$/, handler: async (ops, [name]) => [200, await ops.moveStatus(name!)] },
];

const ROUTES: { method: string; pattern: RegExp; handler: Handler }[] = [
  { method: 'GET', pattern: /^\/v1\/platform$/, handler: platform },
  { method: 'GET', pattern: /^\/v1\/ensembles$/, handler: async (ops) => [200, await ops.listEnsembles()] },
  { method: 'GET', pattern: /^\/v1\/tenants\/([^/]+)\/traffic$/, handler: traffic },
  { method: 'GET', pattern: /^\/v1\/tenants$/, handler: async (ops) => [200, await ops.list()] },
  { method: 'POST', pattern: /^\/v1\/tenants$/, handler: async (ops, _p, body) => [202, await ops.createTenant(objectBody(body))] },
  { method: 'GET', pattern: /^\/v1\/tenants\/([^/]+)$/, handler: async (ops, [name]) => [200, await ops.status(name!)] },
  { method: 'DELETE', pattern: /^\/v1\/tenants\/([^/]+)$/, handler: async (ops, [name]) => [202, await ops.deleteTenant(name!)] },
  {
    method: 'PATCH',
    pattern: /^\/v1\/tenants\/([^/]+)\/limits$/,
    handler: async (ops, [name], body) => [202, await ops.updateLimits(name!, body)],
  },
  { method: 'GET', pattern: /^\/v1\/tenants\/([^/]+)\/cluster$/, handler: async (ops, [name]) => [200, await ops.status(name!)] },
  { method: 'PUT', pattern: /^\/v1\/tenants\/([^/]+)\/cluster$/, handler: deployCluster },
  { method: 'POST', pattern: /^\/v1\/tenants\/([^/]+)\/cluster$/, handler: deployCluster },
  { method: 'DELETE', pattern: /^\/v1\/tenants\/([^/]+)\/cluster$/, handler: async (ops, [name]) => [202, await ops.destroy(name!)] },
];

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError(['the request body must be a JSON object']);
  return body as Record<string, unknown>;
}

export class ControllerApi {
  private readonly server: Server;
  private readonly tokenDigest: Buffer;
  private readonly console = new ConsoleFiles();
  private readonly routes: ReturnType<typeof routes>;

  constructor(backend: ApiBackend, token: string, log: Logger) {
    // Compare digests: equal length for timingSafeEqual whatever the presented token's length.
    this.routes = routes(log);
    this.tokenDigest = createHash('sha256').update(token).digest();
    this.server = createServer((req, res) => {
      this.handle(backend, req, res).catch((error: unknown) => {
        log.error({ err: (error as Error).message, method: req.method, url: req.url }, 'API request failed');
        send(res, 500, { error: 'internal error' });
      });
    });
  }

  private authorized(req: IncomingMessage): boolean {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return match !== null && timingSafeEqual(createHash('sha256').update(match[1]!).digest(), this.tokenDigest);
  }

  private async handle(backend: ApiBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://controller');
    if (url.pathname === '/healthz' && req.method === 'GET') return send(res, 200, await backend.health());
    if (req.method === 'GET' && this.console.serve(url.pathname, res)) return;
    if (!url.pathname.startsWith('/v1/')) return send(res, 404, { error: 'not found' });
    if (!this.authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'missing or wrong bearer token' });
    }
    const route = this.routes.find((r) => r.pattern.test(url.pathname) && r.method === req.method);
    if (route === undefined) {
      const known = this.routes.some((r) => r.pattern.test(url.pathname));
      return send(res, known ? 405 : 404, { error: known ? `method ${req.method} not allowed here` : 'not found' });
    }
    try {
      const params = (route.pattern.exec(url.pathname)!.slice(1) as string[]).map((p) => checkTenantName(decodeURIComponent(p)));
      const body = await readJsonBody(req);
      const ops = backend.operations();
      if (ops === undefined) throw new HttpError(503, 'not connected to the ensemble; retry shortly');
      const [status, result] = await route.handler(ops, params, body, url.searchParams);
      send(res, status, result);
    } catch (error) {
      if (error instanceof ValidationError) return send(res, 400, { error: 'invalid request', problems: error.problems });
      if (error instanceof NotFoundError) return send(res, 404, { error: error.message });
      if (error instanceof ConflictError) return send(res, 409, { error: error.message });
      if (error instanceof UnavailableError) return send(res, 503, { error: error.message });
      if (error instanceof HttpError) return send(res, error.status, { error: error.message });
      throw error;
    }
  }

  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: address.host, port: address.port }, () =>
        resolve({ host: address.host, port: (this.server.address() as AddressInfo).port }),
      );
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new ValidationError([`the request body is not JSON: ${(error as Error).message}`]);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}
