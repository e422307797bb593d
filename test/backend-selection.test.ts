// Which ensemble member a client session lands on: members that refuse are skipped (and avoided
// for a while), a read-only member is used only by clients that accept read-only sessions.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpCode } from 'jute-ts';
import { ConnectionLostError, JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { waitFor } from './support/limits.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';

/** A port where nothing listens (bound, then closed). */
async function deadPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function metric(proxy: InProcessProxy, name: string): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

describe('a member that refuses connections', () => {
  let ensemble: LocalEnsemble;
  let proxy: InProcessProxy;
  beforeAll(async () => {
    ensemble = await LocalEnsemble.start({ size: 1 });
    const dead = await deadPort();
    proxy = await startInProcessProxy(`127.0.0.1:${dead},${ensemble.connectString()}`, [{ name: 'alpha' }]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await ensemble?.close();
  });

  it('is skipped: every client gets a session on the live member, and the failures are counted', async () => {
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await JuteClient.connect({ port: proxy.port('alpha') }));
    for (const client of clients) expect((await client.request(OpCode.exists, { path: '/', watch: false })).err).toBe(0);
    // At least the first attempt hit the dead member; after that it is avoided while backing off.
    const failures = await metric(proxy, 'zkproxy_backend_connect_failures_total');
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(failures).toBeLessThan(10);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('a read-only member (quorum lost, readonlymode.enabled)', () => {
  let ensemble: LocalEnsemble;
  let proxy: InProcessProxy;
  beforeAll(async () => {
    ensemble = await LocalEnsemble.start({
      size: 3,
      systemProperties: { 'readonlymode.enabled': 'true' },
      serverProperties: { localSessionsEnabled: 'true', localSessionsUpgradingEnabled: 'true' },
    });
    proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }]);
    // Create the tenant root while there is a quorum.
    const first = await JuteClient.connect({ port: proxy.port('alpha') });
    await first.close();
    const leader = await ensemble.leader();
    const others = ensemble.members.filter((m) => m.id !== leader).map((m) => m.id);
    await Promise.all([ensemble.kill(leader), ensemble.kill(others[0]!)]);
    // Only once the survivor has noticed the lost quorum is it a read-only server; before that
    // it would answer as a (dying) follower, which is not what these tests are about.
    const survivor = others[1]!;
    await pollUntil(async () => ((await ensemble.fourLetterWord(survivor, 'isro').catch(() => '')).trim() === 'ro' ? true : undefined), {
      description: `member ${survivor} to enter read-only mode`,
      deadline: Date.now() + 60_000,
      intervalMs: 200,
    });
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await ensemble?.close();
  });

  it('serves a client that accepts read-only sessions, saying so in the relayed ConnectResponse', async () => {
    let client: JuteClient | undefined;
    const deadline = Date.now() + 30_000;
    // The survivor needs a moment to notice the lost quorum and switch to read-only mode.
    while (client === undefined && Date.now() < deadline) {
      client = await JuteClient.connect({ port: proxy.port('alpha'), canBeReadOnly: true, connectTimeoutMs: 5_000 }).catch(() => undefined);
      if (client === undefined) await new Promise((r) => setTimeout(r, 500));
    }
    expect(client).toBeDefined();
    expect(client!.handshake.readOnly).toBe(true);
    expect((await client!.request(OpCode.exists, { path: '/', watch: false })).err).toBe(0);
    client!.destroy();
  }, 60_000);

  it('refuses (closes) a client that does not accept read-only sessions, as ZooKeeper does', async () => {
    await expect(JuteClient.connect({ port: proxy.port('alpha'), canBeReadOnly: false, connectTimeoutMs: 8_000 })).rejects.toBeInstanceOf(
      ConnectionLostError,
    );
  }, 30_000);
});

describe('a member that stops answering (SIGSTOP)', () => {
  let ensemble: LocalEnsemble;
  let proxy: InProcessProxy;
  beforeAll(async () => {
    ensemble = await LocalEnsemble.start({ size: 1 });
    proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await ensemble?.close();
  });

  it('a client that gives up on it (pings unanswered for a third of its timeout) makes the proxy try that member last', async () => {
    const client = await JuteClient.connect({ host: '127.0.0.1', port: proxy.port('alpha'), sessionTimeoutMs: 6000, keepAlive: false });
    const member = proxy.server.members.all[0]!;
    expect(member.avoidUntil).toBeLessThanOrEqual(Date.now());
    ensemble.pause(1);
    try {
      client.ping().catch(() => {}); // never answered: the member is stopped
      await new Promise((resolve) => setTimeout(resolve, (client.sessionTimeoutMs * 2) / 3));
      client.destroy('read timeout, as ZooKeeper clients do');
      await waitFor(
        'the member is marked silent',
        async () => (await metric(proxy, `zkproxy_backend_silent_total{ensemble="default",member="${member.key}"}`)) === 1,
        10_000,
      );
      expect(member.avoidUntil).toBeGreaterThan(Date.now());
    } finally {
      ensemble.resume(1);
    }
  });

  it('a client that closes while its requests are answered does not mark the member', async () => {
    const before = await metric(proxy, 'zkproxy_backend_silent_total');
    const client = await JuteClient.connect({ host: '127.0.0.1', port: proxy.port('alpha'), sessionTimeoutMs: 6000 });
    await client.call(OpCode.exists, { path: '/', watch: false });
    client.destroy('done');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await metric(proxy, 'zkproxy_backend_silent_total')).toBe(before);
  });
});
