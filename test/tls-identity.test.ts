/**
 * TLS listeners: one port serves every tenant, and the verified client certificate names the
 * tenant. Proven with the real ZooKeeper 3.8 Java client in TLS mode (Netty, PKCS12 key and
 * trust stores) and kazoo with use_ssl, against a 1-member ensemble, with a throwaway PKI made by
 * openssl: the handshake itself refuses a missing certificate or one from another CA; a valid
 * certificate that names no tenant is closed right after the handshake, counted and logged; and
 * nothing (path or session) crosses from one certificate's tenant to another's.
 *
 * The proxy runs in-process with its logs captured (the identity is logged on connection open);
 * Java and Python clients run as asynchronous child processes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { ErrorCode, OpCode, Perms, encodeNewSessionRequest } from 'jute-ts';
import { JuteClient, SessionExpiredError } from 'jute-ts/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, type ProxyConfigInput } from '../src/config/config.ts';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { ProxyMetrics } from '../src/observability/metrics.ts';
import { ProxyServer } from '../src/server/proxy-server.ts';
import { X509_USER_PREFIX } from '../src/tenancy/credentials.ts';
import { parseSubjectAltNames, tenantOfCertificate, type CertificateNames, type TenantFrom } from '../src/tenancy/tls-identity.ts';
import { compileJava, runJava, type CompiledJava } from './support/java.ts';
import { TEST_SECRET } from './support/proxy.ts';
import { expectSuccess, resultLine, runProcess, startInteractive, type InteractiveProcess } from './support/run-process.ts';
import { ServerTree } from './support/server-tree.ts';
import { STORE_PASSWORD, TestPki, type Issued } from './support/tls-pki.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');
/** Debian's zookeeper.jar manifest lists some netty jars but not netty-resolver/netty-codec, which ClientCnxnSocketNetty needs. */
const JAVA_CLIENT_JARS = [
  ...['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-simple.jar'],
  ...['netty-buffer.jar', 'netty-codec.jar', 'netty-common.jar', 'netty-handler.jar', 'netty-resolver.jar', 'netty-transport.jar'],
].map((jar) => join('/usr/share/java', jar));
const PYTHON = '/usr/bin/python3';
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const URI = 'zookeeper-proxy://tenant/';

let pki: TestPki;
let ca: Issued;
let server: Issued;
/** Client certificates by name (see beforeAll). */
const certs = new Map<string, Issued>();
let truststore: string;
const keystores = new Map<string, string>();
let ensemble: LocalEnsemble | undefined;
let proxy: ProxyServer | undefined;
let tree: ServerTree;
let java: CompiledJava | undefined;
/** Every log line of the proxy, parsed. */
const logs: Record<string, any>[] = [];
/** TLS ports by tenantFrom rule; `plainAlpha` is alpha's plain TCP listener. */
const ports = { cn: 0, 'san-dns': 0, 'san-uri': 0, plainAlpha: 0 };
const interactive: InteractiveProcess[] = [];
const bridges: { close(): void }[] = [];

beforeAll(async () => {
  const compiling = compileJava([join(CLIENTS_DIR, 'TlsZkClient.java')], JAVA_CLIENT_JARS);
  compiling.catch(() => {}); // awaited below
  const starting = LocalEnsemble.start({ size: 1 });
  starting.catch(() => {});

  pki = TestPki.create();
  ca = await pki.ca('test-ca');
  const foreignCa = await pki.ca('foreign-ca');
  const client = (subject: string, ...altNames: string[]) => ({ subject, altNames, usage: 'client' as const });
  const issuing: [string, Issued, ReturnType<typeof client>][] = [
    ['alpha', ca, client('/CN=alpha/O=tenant alpha', 'DNS.1 = alpha', `URI.1 = ${URI}alpha`)],
    // Another certificate of tenant alpha, with another subject: another x509 identity inside alpha.
    ['alpha-ops', ca, client('/CN=alpha/O=ops, east')],
    ['beta', ca, client('/CN=beta', 'DNS.1 = beta', `URI.1 = ${URI}beta`)],
    // A valid certificate for a tenant that is not configured.
    ['gamma', ca, client('/CN=gamma', 'DNS.1 = gamma', `URI.1 = ${URI}gamma`)],
    // alpha's name, but signed by a CA the proxy does not trust.
    ['foreign-alpha', foreignCa, client('/CN=alpha', 'DNS.1 = alpha', `URI.1 = ${URI}alpha`)],
    // CN alpha, SANs beta: which tenant depends on the listener's rule.
    ['mixed', ca, client('/CN=alpha', 'DNS.1 = beta', `URI.1 = ${URI}beta`)],
    // Two CNs: names nobody under "cn".
    ['two-cns', ca, client('/CN=alpha/CN=beta')],
    // SANs that name two tenants: names nobody under the SAN rules.
    ['two-sans', ca, client('/CN=alpha', 'DNS.1 = alpha', 'DNS.2 = beta', `URI.1 = ${URI}alpha`, `URI.2 = ${URI}beta`)],
    // A URI whose text looks like a DNS entry naming alpha (node prints it quoted), and a bare-name URI.
    ['crafted', ca, client('/CN=gamma', `URI.1 = ${URI}gamma, DNS:alpha`, 'URI.2 = alpha', 'DNS.1 = alpha.example')],
  ];
  const issued = await Promise.all([
    pki.issue('server', ca, { subject: '/CN=localhost', altNames: ['IP.1 = 127.0.0.1', 'DNS.1 = localhost'], usage: 'server' }),
    ...issuing.map(([name, signer, spec]) => pki.issue(name, signer, spec)),
  ]);
  server = issued[0]!;
  issuing.forEach(([name], index) => certs.set(name, issued[index + 1]!));
  const stores = await Promise.all([
    pki.truststore('truststore', ca),
    pki.keystore('alpha', certs.get('alpha')!, ca),
    pki.keystore('beta', certs.get('beta')!, ca),
  ]);
  truststore = stores[0];
  keystores.set('alpha', stores[1]).set('beta', stores[2]);

  ensemble = await starting;
  java = await compiling;
  const tls = (tenantFrom: TenantFrom) => ({ listen: '127.0.0.1:0', cert: server.cert, key: server.key, ca: ca.cert, tenantFrom });
  const config = validateConfig({
    ensemble: ensemble.connectString(),
    admin: { listen: '127.0.0.1:0' },
    backend: { connectTimeoutMs: 2000, failureBackoffInitialMs: 200, failureBackoffMaxMs: 2000 },
    security: { secret: TEST_SECRET, ensembleAdmin: `${ensemble.superAuth.user}:${ensemble.superAuth.password}` },
    // alpha also keeps a plain listener; beta is reachable over TLS only.
    tenants: [{ name: 'alpha', listeners: ['127.0.0.1:0'] }, { name: 'beta' }],
    tlsListeners: [tls('cn'), tls('san-dns'), tls('san-uri')],
  } satisfies ProxyConfigInput);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, any>);
      done();
    },
  });
  proxy = new ProxyServer(config, pino({ level: 'info' }, sink), new ProxyMetrics({ processMetrics: false }));
  await proxy.start();
  const [cn, sanDns, sanUri] = proxy.tlsListenerAddresses();
  Object.assign(ports, {
    cn: cn!.port,
    'san-dns': sanDns!.port,
    'san-uri': sanUri!.port,
    plainAlpha: proxy.listenerAddresses()[0]!.address.port,
  });
  tree = await ServerTree.open(ensemble);
}, 150_000);

afterAll(async () => {
  for (const process of interactive) process.kill();
  for (const bridge of bridges) bridge.close();
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  java?.cleanup();
  pki?.cleanup();
});

// ------------------------------------------------------------------ clients

function javaTls(tenant: string): Record<string, string> {
  return {
    'zookeeper.client.secure': 'true',
    'zookeeper.clientCnxnSocket': 'org.apache.zookeeper.ClientCnxnSocketNetty',
    'zookeeper.ssl.keyStore.location': keystores.get(tenant)!,
    'zookeeper.ssl.keyStore.password': STORE_PASSWORD,
    'zookeeper.ssl.keyStore.type': 'PKCS12',
    'zookeeper.ssl.trustStore.location': truststore,
    'zookeeper.ssl.trustStore.password': STORE_PASSWORD,
    'zookeeper.ssl.trustStore.type': 'PKCS12',
    // Hostname verification stays on: the server certificate names 127.0.0.1.
  };
}

interface WriteResult {
  state: string;
  session: string;
  password: string;
  data: string;
  children: string[];
  rootChildren: string[];
  probes: Record<string, string>;
}

async function javaWrite(tenant: string, base: string, data: string, probes: string[] = []): Promise<WriteResult> {
  const run = await runJava(java!, 'TlsZkClient', [`127.0.0.1:${ports.cn}`, 'write', base, data, ...probes], {
    systemProperties: javaTls(tenant),
    timeoutMs: 90_000,
  });
  return resultLine<WriteResult>(expectSuccess(`TlsZkClient (${tenant}) write ${base}`, run));
}

function kazooArgs(tenant: string): string[] {
  const { cert, key } = certs.get(tenant)!;
  return ['-u', join(CLIENTS_DIR, 'kazoo_tls.py'), `127.0.0.1:${ports.cn}`, cert, key, ca.cert];
}

/** A kazoo session (beta's certificate) that stays open, holding `base` and the ephemeral `base`/eph. */
async function kazooHold(
  tenant: string,
  base: string,
  data: string,
): Promise<{ process: InteractiveProcess; session: string; password: string; check(label: string): Promise<Record<string, unknown>> }> {
  const process = startInteractive(PYTHON, [...kazooArgs(tenant), 'hold', base, data], { timeoutMs: 120_000 });
  interactive.push(process);
  const ready = JSON.parse((await process.line('READY ', 60_000)).slice('READY '.length)) as { session: string; password: string };
  return {
    process,
    ...ready,
    check: async (label) => {
      process.send(`check ${label}`);
      const prefix = `CHECK ${label} `;
      return JSON.parse((await process.line(prefix)).slice(prefix.length)) as Record<string, unknown>;
    },
  };
}

function tlsOptions(client: Issued | undefined) {
  return {
    host: '127.0.0.1',
    servername: 'localhost',
    ca: readFileSync(ca.cert),
    ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
  };
}

const NEW_SESSION_REQUEST = encodeNewSessionRequest(10_000);

interface Attempt {
  /** The client's side of the handshake completed. */
  secureConnected: boolean;
  error?: string;
  /** Bytes the proxy sent after the handshake (a ConnectResponse, if it served the client). */
  received: number;
}

/** Connects with node's TLS client, sends a ConnectRequest once the handshake is done, and reports how the connection ended. */
function tlsAttempt(port: number, client: Issued | undefined, maxVersion?: SecureVersion): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ ...tlsOptions(client), port, ...(maxVersion === undefined ? {} : { maxVersion }) });
    const result: Attempt = { secureConnected: false, received: 0 };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after 10 s: ${JSON.stringify(result)}`));
    }, 10_000);
    socket.on('secureConnect', () => {
      result.secureConnected = true;
      socket.write(NEW_SESSION_REQUEST);
    });
    socket.on('data', (chunk: Buffer) => (result.received += chunk.length));
    socket.on('error', (error: NodeJS.ErrnoException) => (result.error = error.code ?? error.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(result);
    });
  });
}

/** A plain TCP port that relays to a TLS listener with `client`'s certificate, so JuteClient can speak through it. */
async function tlsBridge(port: number, client: Issued): Promise<number> {
  const sockets = new Set<Socket>();
  const relay = createServer((plain) => {
    const secure = tlsConnect({ ...tlsOptions(client), port });
    sockets.add(plain).add(secure);
    plain.pipe(secure);
    secure.pipe(plain);
    const end = () => {
      plain.destroy();
      secure.destroy();
      sockets.delete(plain);
      sockets.delete(secure);
    };
    for (const socket of [plain, secure]) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen({ host: '127.0.0.1', port: 0 }, resolve));
  bridges.push({
    close: () => {
      for (const socket of sockets) socket.destroy();
      relay.close();
    },
  });
  return (relay.address() as AddressInfo).port;
}

async function bridgedSession(port: number, client: Issued): Promise<JuteClient> {
  return JuteClient.connect({ host: '127.0.0.1', port: await tlsBridge(port, client), sessionTimeoutMs: 10_000 });
}

function refusedCount(): Promise<number> {
  return proxy!.metrics.refused
    .get()
    .then((metric) => metric.values.find((value) => value.labels.reason === 'unknown_identity')?.value ?? 0);
}

function logsWith(msg: string, from = 0): Record<string, any>[] {
  return logs.slice(from).filter((entry) => entry.msg === msg);
}

// ------------------------------------------------------------------ real clients

describe('TLS listener with real clients', () => {
  it('ZooKeeper Java client 3.8 in TLS mode with alpha’s certificate writes under /tenants/alpha', async () => {
    const logsBefore = logs.length;
    const result = await javaWrite('alpha', '/java', 'from-java', ['/tenants/alpha/java', '/tenants']);
    expect(result.state).toBe('SyncConnected');
    expect(result.data).toBe('from-java');
    expect(result.children).toEqual(['child-1', 'child-2']);
    // The client's "/" is the tenant root: no /tenants, nothing of other tenants.
    expect(result.rootChildren).toEqual(await tree.children('/tenants/alpha'));
    expect(result.rootChildren).toContain('java');
    expect(result.probes).toEqual({ '/tenants/alpha/java': 'NONODE', '/tenants': 'NONODE' });

    expect((await tree.data('/tenants/alpha/java'))?.toString()).toBe('from-java');
    expect(await tree.children('/tenants/alpha/java')).toEqual(['child-1', 'child-2']);
    expect(await tree.exists('/java')).toBe(false);
    expect(await tree.exists('/tenants/beta/java')).toBe(false);

    // The identity is logged when the connection opens.
    const opened = logsWith('connection opened', logsBefore);
    expect(opened.length).toBeGreaterThanOrEqual(1);
    expect(opened[0]).toMatchObject({
      tenant: 'alpha',
      tls: { identity: 'cn:alpha', listener: `127.0.0.1:${ports.cn}`, subject: expect.stringContaining('CN=alpha') },
    });
    expect(opened[0]!.tls.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  }, 120_000);

  it('kazoo with use_ssl and beta’s certificate writes under /tenants/beta', async () => {
    const run = await runProcess(PYTHON, [...kazooArgs('beta'), 'write', '/kazoo', 'from-kazoo', '/java', '/tenants/beta/kazoo'], {
      timeoutMs: 90_000,
    });
    const result = resultLine<WriteResult>(expectSuccess('kazoo_tls.py write', run));
    expect(result.data).toBe('from-kazoo');
    expect(result.children).toEqual(['child-1', 'child-2']);
    expect(result.rootChildren).toEqual(await tree.children('/tenants/beta'));
    expect(result.rootChildren).not.toContain('java'); // alpha's
    expect(result.probes).toEqual({ '/java': 'NoNodeError', '/tenants/beta/kazoo': 'NoNodeError' });

    expect((await tree.data('/tenants/beta/kazoo'))?.toString()).toBe('from-kazoo');
    expect(await tree.children('/tenants/beta/kazoo')).toEqual(['child-1', 'child-2']);
    expect(await tree.exists('/kazoo')).toBe(false);
    expect(await tree.exists('/tenants/alpha/kazoo')).toBe(false);
    expect(logs.some((entry) => entry.msg === 'connection opened' && entry.tenant === 'beta' && entry.tls?.identity === 'cn:beta')).toBe(
      true,
    );
  }, 120_000);

  it('on the same TLS port, alpha’s and beta’s certificates each see only their own tree', async () => {
    const [alpha, beta] = await Promise.all([
      javaWrite('alpha', '/shared', 'alpha-data', ['/kazoo']),
      javaWrite('beta', '/shared', 'beta-data', ['/java']),
    ]);
    expect(alpha.data).toBe('alpha-data');
    expect(beta.data).toBe('beta-data');
    expect(alpha.probes).toEqual({ '/kazoo': 'NONODE' }); // beta's node
    expect(beta.probes).toEqual({ '/java': 'NONODE' }); // alpha's node
    expect(alpha.rootChildren).toEqual(await tree.children('/tenants/alpha'));
    expect(beta.rootChildren).toEqual(await tree.children('/tenants/beta'));
    expect(alpha.rootChildren).toEqual(expect.arrayContaining(['java', 'shared']));
    expect(alpha.rootChildren).not.toContain('kazoo');
    expect(beta.rootChildren).toEqual(expect.arrayContaining(['kazoo', 'shared']));
    expect(beta.rootChildren).not.toContain('java');
    expect((await tree.data('/tenants/alpha/shared'))?.toString()).toBe('alpha-data');
    expect((await tree.data('/tenants/beta/shared'))?.toString()).toBe('beta-data');

    // alpha's plain listener and alpha's certificate are the same tenant.
    const plain = await JuteClient.connect({ host: '127.0.0.1', port: ports.plainAlpha, sessionTimeoutMs: 10_000 });
    try {
      expect((await plain.call(OpCode.getData, { path: '/shared', watch: false })).body!.data?.toString()).toBe('alpha-data');
    } finally {
      await plain.close();
    }
  }, 120_000);

  it('refuses a missing certificate, a foreign CA and an unknown tenant while serving others throughout', async () => {
    const good = await kazooHold('beta', '/steady', 'still-here');
    expect(await good.check('before')).toMatchObject({ session: good.session, state: 'CONNECTED', data: 'still-here', ephemeral: true });
    const refusedBefore = await refusedCount();
    const logsBefore = logs.length;

    // No certificate: the handshake fails. With TLS 1.3 the client has sent its Finished before
    // the server checks, so it sees the server's alert instead of secureConnect failing.
    const none13 = await tlsAttempt(ports.cn, undefined);
    expect(none13.error).toMatch(/ALERT_CERTIFICATE_REQUIRED/);
    expect(none13.received).toBe(0);
    const none12 = await tlsAttempt(ports.cn, undefined, 'TLSv1.2');
    expect(none12.secureConnected).toBe(false);
    expect(none12.error).toMatch(/ALERT_HANDSHAKE_FAILURE/);

    // A certificate with a configured tenant's name, from a CA the listener does not trust. Node
    // lets OpenSSL finish its handshake and then destroys the socket, without an alert, before
    // the proxy ever sees it: with TLS 1.2 the client's handshake never completes; with TLS 1.3
    // the client has finished before the server looks at its certificate, and gets a close.
    const foreign = await tlsAttempt(ports.cn, certs.get('foreign-alpha'));
    expect(foreign.received).toBe(0);
    const foreign12 = await tlsAttempt(ports.cn, certs.get('foreign-alpha'), 'TLSv1.2');
    expect(foreign12.secureConnected).toBe(false);
    expect(foreign12.received).toBe(0);
    const failures = logsWith('TLS handshake failed', logsBefore);
    expect(failures.map((entry) => entry.reason)).toEqual([
      'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
      'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
      'client certificate not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'client certificate not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ]);
    expect(await refusedCount()).toBe(refusedBefore); // refused by TLS, not by identity

    // A valid certificate naming no configured tenant: handshake done, then closed with no data.
    const unknown = await tlsAttempt(ports.cn, certs.get('gamma'));
    expect(unknown.secureConnected).toBe(true);
    expect(unknown.received).toBe(0);
    const twoCns = await tlsAttempt(ports.cn, certs.get('two-cns'));
    expect(twoCns.secureConnected).toBe(true);
    expect(twoCns.received).toBe(0);
    expect(await refusedCount()).toBe(refusedBefore + 2);
    const refusals = logsWith('refused a TLS client: its certificate names no configured tenant', logsBefore);
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toMatchObject({
      level: 40,
      tenantFrom: 'cn',
      claimed: ['gamma'],
      reason: 'the CN names no configured tenant',
      certificate: { subject: 'CN=gamma' },
    });
    expect(refusals[1]).toMatchObject({ claimed: ['alpha', 'beta'], reason: 'the subject has 2 CNs' });
    // None of these attempts became a connection of any tenant.
    expect(logsWith('connection opened', logsBefore)).toHaveLength(0);
    const metricsText = await fetchAdmin('/metrics');
    expect(metricsText).toContain(`zkproxy_refused_total{tenant="",reason="unknown_identity"} ${refusedBefore + 2}`);
    expect(metricsText).not.toMatch(/tenant="gamma"/);

    // The session that was open all along is untouched, and new good clients still get in.
    expect(await good.check('after')).toMatchObject({ session: good.session, state: 'CONNECTED', data: 'still-here', ephemeral: true });
    const fresh = await bridgedSession(ports.cn, certs.get('alpha')!);
    try {
      expect((await fresh.call(OpCode.getData, { path: '/java', watch: false })).body!.data?.toString()).toBe('from-java');
    } finally {
      await fresh.close();
    }
  }, 120_000);

  it('alpha’s certificate cannot reach beta’s data or resume beta’s session', async () => {
    const beta = await kazooHold('beta', '/held', 'beta-secret');
    // Java with alpha's certificate presents beta's live session id and password: the password was
    // sealed for beta, so for alpha it unseals to garbage and the ensemble answers "expired".
    const resume = await runJava(java!, 'TlsZkClient', [`127.0.0.1:${ports.cn}`, 'resume', beta.session, beta.password], {
      systemProperties: javaTls('alpha'),
      timeoutMs: 90_000,
    });
    expect(resultLine<{ state: string }>(expectSuccess('TlsZkClient resume', resume)).state).toBe('Expired');

    // The same through node's TLS client, with a positive control: a beta session dropped without
    // closing resumes with beta's certificate, and is expired to alpha's.
    const dropped = await bridgedSession(ports.cn, certs.get('beta')!);
    const { sessionId, password } = dropped;
    dropped.destroy();
    const resumeAs = async (cert: string) =>
      JuteClient.connect({
        host: '127.0.0.1',
        port: await tlsBridge(ports.cn, certs.get(cert)!),
        sessionTimeoutMs: 10_000,
        sessionId,
        password,
      });
    await expect(resumeAs('alpha')).rejects.toBeInstanceOf(SessionExpiredError);
    const resumed = await resumeAs('beta');
    expect(resumed.sessionId).toBe(sessionId);
    await resumed.close();

    // No path leads from alpha to beta's nodes.
    const alpha = await javaWrite('alpha', '/cross', 'x', ['/held', '/tenants/beta/held', '/held/eph', '/../beta/held']);
    expect(alpha.probes).toEqual({
      '/held': 'NONODE',
      '/tenants/beta/held': 'NONODE',
      '/held/eph': 'NONODE',
      '/../beta/held': 'INVALID_PATH',
    });
    expect(alpha.rootChildren).not.toContain('held');

    // beta's session was neither taken over nor harmed.
    expect(await beta.check('after')).toMatchObject({ session: beta.session, state: 'CONNECTED', data: 'beta-secret', ephemeral: true });
    expect((await tree.data('/tenants/beta/held'))?.toString()).toBe('beta-secret');
    expect(await tree.exists('/tenants/beta/held/eph')).toBe(true);
    expect(await tree.exists('/tenants/alpha/held')).toBe(false);
  }, 120_000);
});

// ------------------------------------------------------------------ identity rules on the wire

describe('x509 identities in ACLs', () => {
  // As ZooKeeper's X509AuthenticationProvider names them: Java's X500Principal.getName() (RFC 2253).
  const ALPHA_DN = 'O=tenant alpha,CN=alpha';
  const OPS_DN = 'O=ops\\, east,CN=alpha';

  it("a TLS client's auth: entries name its certificate subject: another certificate of the tenant and the plain listener get NOAUTH; getACL and whoAmI show x509:<DN>", async () => {
    const owner = await bridgedSession(ports.cn, certs.get('alpha')!);
    const ops = await bridgedSession(ports.cn, certs.get('alpha-ops')!);
    const plain = await JuteClient.connect({ host: '127.0.0.1', port: ports.plainAlpha, sessionTimeoutMs: 10_000 });
    try {
      expect((await owner.call(OpCode.whoAmI)).body!.clientInfo).toContainEqual({ authScheme: 'x509', user: ALPHA_DN });
      await owner.call(OpCode.create, {
        path: '/x509-owned',
        data: Buffer.from('cert'),
        acl: [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }],
        flags: 0,
      });
      expect((await owner.call(OpCode.getACL, { path: '/x509-owned' })).body!.acl).toEqual([
        { perms: Perms.ALL, id: { scheme: 'x509', id: ALPHA_DN } },
      ]);
      for (const other of [ops, plain]) {
        expect((await other.request(OpCode.getData, { path: '/x509-owned', watch: false })).err).toBe(ErrorCode.NOAUTH);
        expect((await other.request(OpCode.create, { path: '/x509-owned/c', data: null, acl: OPEN_ACL, flags: 0 })).err).toBe(
          ErrorCode.NOAUTH,
        );
      }
      // Naming the other certificate's identity explicitly lets it read.
      await owner.call(OpCode.setACL, {
        path: '/x509-owned',
        acl: [
          { perms: Perms.ALL, id: { scheme: 'x509', id: ALPHA_DN } },
          { perms: Perms.READ, id: { scheme: 'x509', id: OPS_DN } },
        ],
        version: -1,
      });
      expect((await ops.call(OpCode.getData, { path: '/x509-owned', watch: false })).body!.data?.toString()).toBe('cert');
      expect((await ops.request(OpCode.setData, { path: '/x509-owned', data: Buffer.from('x'), version: -1 })).err).toBe(ErrorCode.NOAUTH);
      expect((await plain.request(OpCode.getData, { path: '/x509-owned', watch: false })).err).toBe(ErrorCode.NOAUTH);
      // A new connection with the owner's certificate is the owner again.
      const again = await bridgedSession(ports.cn, certs.get('alpha')!);
      expect((await again.request(OpCode.setData, { path: '/x509-owned', data: Buffer.from('again'), version: -1 })).err).toBe(
        ErrorCode.OK,
      );
      await again.close();
      // The ensemble, which has no x509 provider here, holds digest stand-ins for both DNs, no tenant identity.
      const stored = (await tree.acl('/tenants/alpha/x509-owned')) as { perms: number; id: { scheme: string; id: string } }[];
      expect(stored.slice(0, 2).map((entry) => [entry.perms, entry.id.scheme, entry.id.id.startsWith(X509_USER_PREFIX)])).toEqual([
        [Perms.ALL, 'digest', true],
        [Perms.READ, 'digest', true],
      ]);
      expect(JSON.stringify(stored)).not.toContain('zkproxy-tenant');
    } finally {
      await Promise.all([owner.close(), ops.close(), plain.close()]);
    }
  });
});

describe('tenantFrom rules on real certificates', () => {
  /** Creates `path` through the listener and returns the tenant whose tree it landed in. */
  async function landsIn(rule: TenantFrom, cert: string, path: string): Promise<string> {
    const client = await bridgedSession(ports[rule], certs.get(cert)!);
    try {
      await client.call(OpCode.create, { path, data: Buffer.from(rule), acl: OPEN_ACL, flags: 0 });
    } finally {
      await client.close();
    }
    const owners = [];
    for (const tenant of ['alpha', 'beta']) if (await tree.exists(`/tenants/${tenant}${path}`)) owners.push(tenant);
    expect(owners).toHaveLength(1);
    return owners[0]!;
  }

  it('reads the tenant from the CN, a DNS SAN or a zookeeper-proxy:// URI SAN, per listener', async () => {
    // One certificate, CN alpha and SANs naming beta: each listener applies its own rule.
    expect(await landsIn('cn', 'mixed', '/mixed-cn')).toBe('alpha');
    expect(await landsIn('san-dns', 'mixed', '/mixed-san-dns')).toBe('beta');
    expect(await landsIn('san-uri', 'mixed', '/mixed-san-uri')).toBe('beta');
    expect(await landsIn('san-uri', 'alpha', '/alpha-san-uri')).toBe('alpha');
    expect(
      logs.some((entry) => entry.msg === 'connection opened' && entry.tls?.identity === 'san-uri:beta' && entry.tenant === 'beta'),
    ).toBe(true);
  });

  it('refuses SANs that name two tenants, a crafted URI that looks like a DNS entry, and a bare-name URI', async () => {
    const refusedBefore = await refusedCount();
    const logsBefore = logs.length;
    for (const [rule, cert] of [
      ['san-dns', 'two-sans'],
      ['san-uri', 'two-sans'],
      ['san-dns', 'crafted'], // URI:"zookeeper-proxy://tenant/gamma, DNS:alpha" is no DNS name
      ['san-uri', 'crafted'], // gamma is not configured; URI "alpha" is not the zookeeper-proxy:// form
      ['cn', 'crafted'],
    ] as const) {
      const attempt = await tlsAttempt(ports[rule], certs.get(cert));
      expect(attempt, `${cert} on the ${rule} listener`).toMatchObject({ secureConnected: true, received: 0 });
    }
    expect(await refusedCount()).toBe(refusedBefore + 5);
    const reasons = logsWith('refused a TLS client: its certificate names no configured tenant', logsBefore).map((entry) => [
      entry.tenantFrom,
      entry.reason,
      entry.claimed,
    ]);
    expect(reasons).toEqual([
      ['san-dns', 'DNS subjectAltNames name 2 tenants (alpha, beta)', ['alpha', 'beta']],
      ['san-uri', 'URI subjectAltNames name 2 tenants (alpha, beta)', [`${URI}alpha`, `${URI}beta`]],
      ['san-dns', 'no DNS subjectAltName names a configured tenant', ['alpha.example']],
      ['san-uri', 'no URI subjectAltName names a configured tenant', [`${URI}gamma, DNS:alpha`, 'alpha']],
      ['cn', 'the CN names no configured tenant', ['gamma']],
    ]);
  });
});

// ------------------------------------------------------------------ admin, config

async function fetchAdmin(path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${proxy!.adminListenAddress()!.port}${path}`);
  expect(response.status).toBe(200);
  return response.text();
}

describe('admin state and configuration', () => {
  it('lists the TLS listeners in /admin/state', async () => {
    const state = JSON.parse(await fetchAdmin('/admin/state')) as {
      tlsListeners: Record<string, unknown>[];
      tenants: { name: string; listeners: string[] }[];
    };
    expect(state.tlsListeners).toEqual(
      (['cn', 'san-dns', 'san-uri'] as const).map((rule) => ({
        listen: `127.0.0.1:${ports[rule]}`,
        tenantFrom: rule,
        cert: server.cert,
        ca: ca.cert,
        certValidTo: expect.stringMatching(/GMT$/),
        connections: expect.any(Number),
      })),
    );
    expect(state.tenants.find((t) => t.name === 'beta')!.listeners).toEqual([]);
  });

  const base = {
    ensemble: 'zk1:2181',
    security: { secret: 'a-secret-of-16-chars' },
    tenants: [{ name: 'acme', listeners: ['0.0.0.0:7451'] }],
  };
  const tlsEntry = (overrides: Record<string, unknown> = {}) => ({
    listen: '127.0.0.1:7443',
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    ...overrides,
  });
  function problems(raw: unknown): string {
    try {
      validateConfig(raw);
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  }

  it('closes a client stuck in the TLS handshake after client.handshakeTimeoutMs, and a drain does not wait for one', async () => {
    const config = validateConfig({
      ...base,
      admin: { listen: null },
      client: { handshakeTimeoutMs: 1500 },
      tenants: [{ name: 'acme' }],
      tlsListeners: [tlsEntry({ listen: '127.0.0.1:0' })],
    });
    const idle = new ProxyServer(config, pino({ level: 'silent' }), new ProxyMetrics({ processMetrics: false }));
    await idle.start();
    const port = idle.tlsListenerAddresses()[0]!.port;
    /** TCP only, never a ClientHello; resolves once connected, with a promise of its close. */
    const stuck = async () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
      await new Promise((resolve) => socket.once('connect', resolve));
      return { socket, closed };
    };
    try {
      const first = await stuck();
      const connectedAt = performance.now();
      const closedAfter = (await first.closed) - connectedAt;
      expect(closedAfter).toBeGreaterThan(1000);
      expect(closedAfter).toBeLessThan(5000);

      const second = await stuck();
      await sleep(100);
      const started = performance.now();
      await idle.close();
      expect(performance.now() - started).toBeLessThan(1000);
      await second.closed;
    } finally {
      await idle.close();
    }
  });

  it('accepts TLS-only tenants and defaults tenantFrom to cn', () => {
    const config = validateConfig({ ...base, tenants: [{ name: 'acme' }], tlsListeners: [tlsEntry()] });
    expect(config.tlsListeners[0]).toMatchObject({ listen: { host: '127.0.0.1', port: 7443 }, tenantFrom: 'cn' });
    expect(config.tenants[0]!.listeners).toEqual([]);
    expect(problems({ ...base, tenants: [{ name: 'acme' }] })).toContain(
      'tenants[0].listeners: a tenant needs at least one listener (or a tlsListeners entry)',
    );
  });

  it('refuses clashing listeners, unreadable or mismatched files and unknown rules, naming the key', () => {
    expect(problems({ ...base, tlsListeners: [tlsEntry({ listen: '127.0.0.1:7451' })] })).toContain(
      'tlsListeners[0].listen: listener 127.0.0.1:7451 clashes with 0.0.0.0:7451 of tenant "acme"',
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ listen: '0.0.0.0:7443' }), tlsEntry()] })).toContain(
      'tlsListeners[1].listen: listener 127.0.0.1:7443 clashes with 0.0.0.0:7443 of tlsListeners[0]',
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ cert: '/nonexistent/server.crt' })] })).toContain(
      'tlsListeners[0].cert: cannot read /nonexistent/server.crt (ENOENT)',
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ key: certs.get('alpha')!.key })] })).toContain(
      `tlsListeners[0].key: ${certs.get('alpha')!.key} is not the private key of the certificate in ${server.cert}`,
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ ca: server.key })] })).toContain(
      `tlsListeners[0].ca: ${server.key} holds no PEM certificate`,
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ key: server.cert })] })).toContain(
      `tlsListeners[0].key: ${server.cert} is not an unencrypted PEM private key`,
    );
    expect(problems({ ...base, tlsListeners: [tlsEntry({ tenantFrom: 'email' })] })).toMatch(/tlsListeners\[0\]\.tenantFrom: .*"cn"/);
    expect(problems({ ...base, tlsListeners: [tlsEntry({ sni: true })] })).toMatch(/tlsListeners\[0\]: .*sni/);
  });

  it('the CLI exits with status 2 and names the file before listening', async () => {
    const file = pki.path('bad-proxy.json');
    writeFileSync(file, JSON.stringify({ ...base, tlsListeners: [tlsEntry({ ca: pki.path('missing-ca.crt') })] }));
    const run = await runProcess(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli.ts'), 'serve', '--config', file], {
      timeoutMs: 30_000,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`tlsListeners[0].ca: cannot read ${pki.path('missing-ca.crt')} (ENOENT)`);
  });
});

// ------------------------------------------------------------------ identity rules (unit)

describe('tenantOfCertificate', () => {
  const configured = (name: string) => ['alpha', 'beta'].includes(name);
  const identify = (cert: Partial<CertificateNames> | undefined, from: TenantFrom) =>
    tenantOfCertificate(cert as CertificateNames | undefined, from, configured);

  it('cn: exactly one CN, equal to a tenant name', () => {
    expect(identify({ subject: { CN: 'alpha' } as never }, 'cn')).toEqual({ ok: true, tenant: 'alpha', identity: 'cn:alpha' });
    expect(identify({ subject: { CN: 'Alpha' } as never }, 'cn')).toMatchObject({ ok: false });
    expect(identify({ subject: { CN: ['alpha', 'alpha'] } as never }, 'cn')).toMatchObject({ ok: false, reason: 'the subject has 2 CNs' });
    expect(identify({ subject: { O: 'alpha' } as never }, 'cn')).toMatchObject({ ok: false, reason: 'the subject has no CN' });
    expect(identify({} as never, 'cn')).toMatchObject({ ok: false, reason: 'no client certificate' });
    expect(identify(undefined, 'cn')).toMatchObject({ ok: false });
  });

  it('san-dns: DNS names compared in lower case; other names ignored; two tenants name nobody', () => {
    const cert = (subjectaltname: string) => ({ subject: { CN: 'beta' } as never, subjectaltname });
    expect(identify(cert('DNS:Alpha, DNS:host.example, IP Address:127.0.0.1'), 'san-dns')).toEqual({
      ok: true,
      tenant: 'alpha',
      identity: 'san-dns:alpha',
    });
    expect(identify(cert('DNS:alpha, DNS:ALPHA'), 'san-dns')).toMatchObject({ ok: true, tenant: 'alpha' });
    expect(identify(cert('DNS:alpha, DNS:beta'), 'san-dns')).toMatchObject({ ok: false });
    expect(identify(cert('URI:alpha, email:alpha'), 'san-dns')).toMatchObject({ ok: false });
    expect(identify(cert('URI:"x\\u002c DNS:alpha"'), 'san-dns')).toMatchObject({ ok: false, claimed: [] });
    expect(identify({ subject: { CN: 'alpha' } as never }, 'san-dns')).toMatchObject({ ok: false }); // no SAN at all, CN ignored
  });

  it('san-uri: only zookeeper-proxy://tenant/<name>', () => {
    const cert = (subjectaltname: string) => ({ subject: {} as never, subjectaltname });
    expect(identify(cert(`URI:spiffe://example.org/x, URI:${URI}beta`), 'san-uri')).toEqual({
      ok: true,
      tenant: 'beta',
      identity: 'san-uri:beta',
    });
    expect(identify(cert('URI:beta'), 'san-uri')).toMatchObject({ ok: false });
    expect(identify(cert(`URI:${URI}beta/x`), 'san-uri')).toMatchObject({ ok: false });
    expect(identify(cert(`URI:${URI}BETA`), 'san-uri')).toMatchObject({ ok: false });
    expect(identify(cert(`DNS:${URI}beta`), 'san-uri')).toMatchObject({ ok: false });
    expect(identify(cert(`URI:"${URI}beta"`), 'san-uri')).toMatchObject({ ok: true, tenant: 'beta' });
    expect(identify(cert('URI:"unterminated'), 'san-uri')).toMatchObject({ ok: false, reason: expect.stringContaining('unterminated') });
  });

  it('parses node’s subjectaltname format, quoted values included', () => {
    expect(parseSubjectAltNames('DNS:a, IP Address:127.0.0.1, URI:"x\\u002c DNS:b", email:c@d, DirName:"CN=e\\u002c O=f"')).toEqual([
      { type: 'DNS', value: 'a' },
      { type: 'IP Address', value: '127.0.0.1' },
      { type: 'URI', value: 'x, DNS:b' },
      { type: 'email', value: 'c@d' },
      { type: 'DirName', value: 'CN=e, O=f' },
    ]);
    expect(parseSubjectAltNames(undefined)).toEqual([]);
    expect(() => parseSubjectAltNames('DNS:"a"b')).toThrow();
  });
});
