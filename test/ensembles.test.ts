/**
 * One proxy in front of two real ensembles (docs/ensembles.md): each tenant's sessions and znodes
 * on its own ensemble only; a registry update that moves a tenant closes its connections and the
 * reconnecting client lands on the other ensemble; a hold keeps requests and handshakes back
 * until it is lifted, and closes the connections after moveHoldMaxMs; the replica record on the
 * home ensemble shows the registry version applied and the quiesced tenants; /readyz names an
 * unreachable ensemble.
 */
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { serializeRegistry, type RegistryDocumentInput } from '../src/config/registry.ts';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { digestIdentity } from '../src/tenancy/credentials.ts';
import { metricValue, scrape, waitFor } from './support/limits.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';
import { startKazooClient } from './support/scripted-clients/scripted-client.ts';
import { connectClient } from './support/zookeeper-client.ts';

const REGISTRY = '/zkproxy/registry';
const REPLICAS = '/zkproxy/replicas';
const MOVE_HOLD_MAX_MS = 1500;
const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

let east: LocalEnsemble;
let west: LocalEnsemble;
let eastTree: ServerTree;
let westTree: ServerTree;
let proxy: InProcessProxy;
let revision = 0;
/** The registry znode's version after the last write. */
let registryVersion = 0;

/** Writes the registry on the home ensemble (east) as the controller does; returns the znode version. */
async function writeRegistry(tenants: RegistryDocumentInput['tenants']): Promise<number> {
  const data = serializeRegistry({ revision: ++revision, tenants });
  const { user, password } = east.superAuth;
  const adminOnly = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestIdentity(user, password).id } }];
  await eastTree.client.request(OpCode.create, { path: '/zkproxy', data: null, acl: adminOnly, flags: 0 });
  const created = await eastTree.client.request(OpCode.create, { path: REGISTRY, data, acl: adminOnly, flags: 0 });
  if (created.err === ErrorCode.NODEEXISTS) {
    const set = await eastTree.client.call(OpCode.setData, { path: REGISTRY, data, version: -1 });
    registryVersion = (set.body!.stat as { version: number }).version;
    return registryVersion;
  }
  expect(created.err).toBe(ErrorCode.OK);
  registryVersion = 0;
  return 0;
}

/** The registry entries: alpha on `alphaOn`, beta always on west. */
const tenants = (alphaOn: 'east' | 'west', alphaHold = false) => [
  { name: 'alpha', listeners: ['127.0.0.1:0'], ensemble: alphaOn, ...(alphaHold ? { hold: true } : {}) },
  { name: 'beta', listeners: ['127.0.0.1:0'], ensemble: 'west' },
];

async function applied(version: number, through: InProcessProxy = proxy): Promise<void> {
  await waitFor(`registry version ${version} applied`, async () => (await state(through)).registry.version === version);
}

interface State {
  ensemble: { member: string }[];
  ensembles: { name: string; members: { member: string }[] }[];
  tenants: { name: string; ensemble: string; hold: boolean; connections: number }[];
  registry: { version: number; replica: string };
}

async function state(through: InProcessProxy = proxy): Promise<State> {
  return (await (await fetch(`${through.adminUrl}/admin/state`)).json()) as State;
}

/** Every replica record on the home ensemble. */
async function replicaRecords(): Promise<{ registryVersion: number; quiesced: string[] }[]> {
  const children = (await eastTree.children(REPLICAS)) ?? [];
  return Promise.all(children.map(async (child) => JSON.parse((await eastTree.data(`${REPLICAS}/${child}`))!.toString('utf8'))));
}

function connect(tenant: string, through: InProcessProxy = proxy): Promise<JuteClient> {
  return JuteClient.connect({ host: '127.0.0.1', port: through.port(tenant), sessionTimeoutMs: 10_000, connectTimeoutMs: 5000 });
}

/** A proxy on the same two ensembles and registry (a second replica). */
function startReplica(extra: Record<string, unknown> = {}): Promise<InProcessProxy> {
  return startInProcessProxy('', [], {
    ensemble: undefined,
    ensembles: { east: { members: east.connectString() }, west: { members: west.connectString() } },
    registry: { path: REGISTRY },
    ...extra,
  });
}

function fourLetterWord(tenant: string, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: proxy.port(tenant) }, () => socket.write(word));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  [east, west] = await Promise.all([LocalEnsemble.start({ size: 1 }), LocalEnsemble.start({ size: 1 })]);
  [eastTree, westTree] = await Promise.all([ServerTree.open(east), ServerTree.open(west)]);
  await writeRegistry(tenants('east'));
  proxy = await startReplica();
  await applied(0);
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all([eastTree?.close().catch(() => {}), westTree?.close().catch(() => {})]);
  await Promise.all([east?.close(), west?.close()]);
});

describe('tenants on two ensembles through one proxy', () => {
  it("keeps each tenant's znodes and sessions on its own ensemble", async () => {
    const alpha = await connectClient(`127.0.0.1:${proxy.port('alpha')}`);
    const beta = await connectClient(`127.0.0.1:${proxy.port('beta')}`);
    try {
      await alpha.create('/from-alpha', 'a');
      await beta.create('/from-beta', 'b');
      expect(await eastTree.exists('/tenants/alpha/from-alpha')).toBe(true);
      expect(await westTree.exists('/tenants/alpha')).toBe(false);
      expect(await westTree.exists('/tenants/beta/from-beta')).toBe(true);
      expect(await eastTree.exists('/tenants/beta')).toBe(false);

      const metrics = await scrape(proxy.adminUrl);
      expect(metricValue(metrics, 'zkproxy_backend_connections', { ensemble: 'east', member: east.connectString() })).toBe(1);
      expect(metricValue(metrics, 'zkproxy_backend_connections', { ensemble: 'west', member: west.connectString() })).toBe(1);

      const view = await state();
      expect(view.ensembles.map((e) => [e.name, e.members.map((m) => m.member)])).toEqual([
        ['east', [east.connectString()]],
        ['west', [west.connectString()]],
      ]);
      expect(view.ensemble.map((m) => m.member)).toEqual([east.connectString()]); // the home ensemble's, as before
      expect(view.tenants.map((t) => [t.name, t.ensemble, t.connections])).toEqual([
        ['alpha', 'east', 1],
        ['beta', 'west', 1],
      ]);
      expect(await fourLetterWord('beta', 'ruok')).toBe('imok');
    } finally {
      alpha.close();
      beta.close();
    }
  });

  it('holds requests and handshakes while hold is set, shows the tenant quiesced, and answers once it is lifted', async () => {
    const client = await connect('alpha');
    await client.call(OpCode.create, { path: '/held', data: Buffer.from('v'), acl: OPEN, flags: 0 });
    const heldVersion = await writeRegistry(tenants('east', true));
    await applied(heldVersion);
    const before = metricValue(await scrape(proxy.adminUrl), 'zkproxy_requests_held_total', { tenant: 'alpha', reason: 'moving' });
    let answered = false;
    const read = client.request(OpCode.getData, { path: '/held', watch: false }).then((reply) => ((answered = true), reply));
    let connected = false;
    const late = connect('alpha').then((c) => ((connected = true), c));
    await waitFor(
      'the read and the handshake counted as held (moving)',
      async () =>
        metricValue(await scrape(proxy.adminUrl), 'zkproxy_requests_held_total', { tenant: 'alpha', reason: 'moving' }) >= before + 2,
    );
    // The replica record: this registry version applied, alpha held with nothing in flight.
    await waitFor('the replica record shows the hold', async () =>
      (await replicaRecords()).some((r) => r.registryVersion === heldVersion && r.quiesced.includes('alpha')),
    );
    expect(answered).toBe(false);
    expect(connected).toBe(false);

    const liftedVersion = await writeRegistry(tenants('east'));
    const reply = await read;
    expect(reply.err).toBe(ErrorCode.OK);
    expect(reply.body!.data).toEqual(Buffer.from('v'));
    const second = await late;
    expect((await second.request(OpCode.exists, { path: '/held', watch: false })).err).toBe(ErrorCode.OK);
    await waitFor('the replica record shows the hold lifted', async () =>
      (await replicaRecords()).some((r) => r.registryVersion === liftedVersion && r.quiesced.length === 0),
    );
    await Promise.all([client.close(), second.close()]);
  });

  it('closes the connections of a tenant held longer than moveHoldMaxMs', async () => {
    const quick = await startReplica({ moveHoldMaxMs: MOVE_HOLD_MAX_MS });
    try {
      await applied(registryVersion, quick);
      const client = await connect('alpha', quick);
      const closed = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now())));
      const heldAt = performance.now();
      const heldVersion = await writeRegistry(tenants('east', true));
      await Promise.all([applied(heldVersion), applied(heldVersion, quick)]);
      const closedAt = await closed;
      expect(closedAt - heldAt).toBeGreaterThanOrEqual(MOVE_HOLD_MAX_MS - 100);
      // New connections meanwhile are closed at once rather than left hanging.
      await expect(connect('alpha', quick)).rejects.toThrow();
      await applied(await writeRegistry(tenants('east')));
      await (await connect('alpha', quick)).close();
    } finally {
      await quick.close();
    }
  });

  it('moves a tenant: its connections close, the listener stays, the reconnecting client lands on the other ensemble', async () => {
    const port = proxy.port('alpha');
    const client = await connectClient(`127.0.0.1:${port}`, { sessionTimeoutMs: 10_000 });
    await client.create('/before-move', 'x');
    const kazoo = startKazooClient(`127.0.0.1:${port}`, 10_000);
    const kazooSession = (await kazoo.ok('session')).session;
    const kazooFrom = kazoo.events.length;
    // node-zookeeper-client reconnects on its own, to the same listener, now in front of west. Its
    // session lives on east: the proxy answers the resume "expired" (west itself would close the
    // connection without an answer, the client having seen zxids beyond west's, again and again).
    const expired = new Promise<void>((resolve) => client.raw.once('expired', () => resolve()));
    const disconnected = new Promise<void>((resolve) => client.raw.once('disconnected', () => resolve()));
    await applied(await writeRegistry(tenants('west')));
    await disconnected;
    await expired;
    client.close();
    // kazoo: SUSPENDED, then LOST (its session expired), then CONNECTED with a new session on west.
    await kazoo.waitFor('kazoo LOST', (e) => e.type === 'state' && e.state === 'LOST', { from: kazooFrom });
    const reconnected = await kazoo.waitFor('kazoo CONNECTED again', (e) => e.type === 'state' && e.state === 'CONNECTED', {
      from: kazooFrom,
    });
    expect(reconnected.session).not.toBe(kazooSession);
    expect((await kazoo.ok('exists /before-move')).exists).toBe(false);
    await kazoo.close();
    expect(proxy.port('alpha')).toBe(port);
    expect((await state()).tenants.find((t) => t.name === 'alpha')!.ensemble).toBe('west');

    const again = await connectClient(`127.0.0.1:${port}`);
    try {
      // The proxy moved no data (that is the mover's job): the new ensemble's tree starts empty.
      expect(await again.exists('/before-move')).toBe(null);
      await again.create('/after-move', 'y');
      expect(await westTree.exists('/tenants/alpha/after-move')).toBe(true);
      expect(await eastTree.exists('/tenants/alpha/after-move')).toBe(false);
    } finally {
      again.close();
    }
  });

  it('answers a request forwarded before the hold, and counts the tenant quiesced only once it is answered', async () => {
    // alpha is on west since the move; the registry (and so the hold) is on east.
    const client = await connect('alpha');
    await client.call(OpCode.create, { path: '/in-flight', data: Buffer.from('w'), acl: OPEN, flags: 0 });
    const requests = async () =>
      metricValue(await scrape(proxy.adminUrl), 'zkproxy_requests_total', { tenant: 'alpha', opcode: 'getData' });
    const before = await requests();
    west.pause(1);
    let read: Promise<Awaited<ReturnType<JuteClient['request']>>> | undefined;
    try {
      read = client.request(OpCode.getData, { path: '/in-flight', watch: false });
      await waitFor('the read forwarded to the stopped member', async () => (await requests()) > before);
      const heldVersion = await writeRegistry(tenants('west', true));
      await waitFor('the replica record shows the hold version', async () =>
        (await replicaRecords()).some((r) => r.registryVersion === heldVersion),
      );
      expect((await replicaRecords()).find((r) => r.registryVersion === heldVersion)!.quiesced).not.toContain('alpha');
    } finally {
      west.resume(1);
    }
    const reply = await read!;
    expect(reply.err).toBe(ErrorCode.OK);
    expect(reply.body!.data).toEqual(Buffer.from('w'));
    await waitFor('the replica record shows alpha quiesced', async () =>
      (await replicaRecords()).some((r) => r.quiesced.includes('alpha')),
    );
    await applied(await writeRegistry(tenants('west')));
    await client.close();
  });

  it('is not ready while an ensemble that serves a tenant is unreachable, and names it', async () => {
    await west.stop(1);
    await waitFor(
      '/readyz to name west',
      async () => {
        const response = await fetch(`${proxy.adminUrl}/readyz`);
        return response.status === 503 && (await response.text()) === 'not ready: ensemble unreachable: west\n';
      },
      15_000,
      200,
    );
    // ruok on a tenant listener answers for the tenant's ensemble (west), not the home one (east, up).
    expect(await fourLetterWord('beta', 'ruok')).toBe('');
  });
});
