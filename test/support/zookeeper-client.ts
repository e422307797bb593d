import zookeeper from 'node-zookeeper-client';

/**
 * Promise-based access to node-zookeeper-client for tests, plus one fix-up of that library.
 *
 * node-zookeeper-client (2013) only knows the error codes of ZooKeeper 3.4. When a server replies
 * with a newer one, Exception.create throws "Unknown code" inside the socket data handler, which
 * crashes the whole test worker instead of failing the call. The library looks Exception.create up
 * at call time, so teaching it the ZooKeeper 3.8 codes here turns those replies into ordinary
 * rejected calls carrying the server's code.
 */
const CODES_MISSING_FROM_NODE_ZOOKEEPER_CLIENT = new Map<number, string>([
  [-12, 'UNKNOWN_SESSION'],
  [-13, 'NEW_CONFIG_NO_QUORUM'],
  [-14, 'RECONFIG_IN_PROGRESS'],
  [-118, 'SESSION_MOVED'],
  [-119, 'NOT_READ_ONLY'],
  [-120, 'EPHEMERAL_ON_LOCAL_SESSION'],
  [-121, 'NO_WATCHER'],
  [-122, 'REQUEST_TIMEOUT'],
  [-123, 'RECONFIG_DISABLED'],
  [-124, 'SESSION_CLOSED_REQUIRE_SASL_AUTH'],
  [-125, 'QUOTA_EXCEEDED'],
  [-127, 'THROTTLED_OP'],
]);

export const ZooKeeperErrorCode = {
  NO_NODE: -101,
  NO_AUTH: -102,
  NODE_EXISTS: -110,
  QUOTA_EXCEEDED: -125,
} as const;

const Exception = zookeeper.Exception;
const createKnownException = Exception.create;
Exception.create = function create(code: number, path?: string): zookeeper.Exception {
  const name = CODES_MISSING_FROM_NODE_ZOOKEEPER_CLIENT.get(code);
  if (name === undefined) return createKnownException(code, path);
  // Same shape as the library's own exceptions (its constructor rejects unknown codes).
  const error = Object.create(Exception.prototype) as zookeeper.Exception;
  Error.captureStackTrace(error, create);
  return Object.assign(error, {
    code,
    name,
    path,
    message: `Exception: ${name}[${code}]${path ? `@${path}` : ''}`,
  });
};

export interface ConnectOptions {
  /** Digest identity sent with the session, e.g. the ensemble's superAuth. */
  digestAuth?: { user: string; password: string };
  sessionTimeoutMs?: number;
  /** How long to wait for the session to be established. */
  timeoutMs?: number;
}

export interface TestClient {
  readonly raw: zookeeper.Client;
  create(path: string, data?: string | Buffer, mode?: number): Promise<string>;
  exists(path: string): Promise<zookeeper.Stat | null>;
  getData(path: string): Promise<Buffer | undefined>;
  getChildren(path: string): Promise<string[]>;
  setData(path: string, data: string | Buffer): Promise<zookeeper.Stat>;
  remove(path: string): Promise<void>;
  close(): void;
}

export function connectClient(connectString: string, options: ConnectOptions = {}): Promise<TestClient> {
  const raw = zookeeper.createClient(connectString, {
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    spinDelay: 100,
    retries: 0,
  });
  if (options.digestAuth) {
    const { user, password } = options.digestAuth;
    raw.addAuthInfo('digest', Buffer.from(`${user}:${password}`));
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<TestClient>((resolve, reject) => {
    const timer = setTimeout(() => {
      raw.close();
      reject(new Error(`no session with ${connectString} within ${timeoutMs} ms`));
    }, timeoutMs);
    raw.once('connected', () => {
      clearTimeout(timer);
      resolve(wrap(raw));
    });
    raw.connect();
  });
}

function wrap(raw: zookeeper.Client): TestClient {
  const toBuffer = (data: string | Buffer | undefined) => (typeof data === 'string' ? Buffer.from(data) : (data ?? null));
  return {
    raw,
    create: (path, data, mode = zookeeper.CreateMode.PERSISTENT) =>
      new Promise((resolve, reject) =>
        raw.create(path, toBuffer(data), zookeeper.ACL.OPEN_ACL_UNSAFE, mode, (error, created) =>
          error ? reject(error) : resolve(created),
        ),
      ),
    exists: (path) => new Promise((resolve, reject) => raw.exists(path, (error, stat) => (error ? reject(error) : resolve(stat)))),
    getData: (path) => new Promise((resolve, reject) => raw.getData(path, (error, data) => (error ? reject(error) : resolve(data)))),
    getChildren: (path) =>
      new Promise((resolve, reject) => raw.getChildren(path, (error, children) => (error ? reject(error) : resolve(children)))),
    setData: (path, data) =>
      new Promise((resolve, reject) => raw.setData(path, toBuffer(data), (error, stat) => (error ? reject(error) : resolve(stat)))),
    remove: (path) => new Promise((resolve, reject) => raw.remove(path, (error) => (error ? reject(error) : resolve()))),
    close: () => raw.close(),
  };
}
