import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { findFixtureProcesses } from '../src/embedded/fixture-processes.ts';
import { connectClient, ZooKeeperErrorCode, type TestClient } from './support/zookeeper-client.ts';

// Real JVMs throughout: these tests are about the fixture's process handling, which a fake
// server could not exercise.

async function startTimed(size: number): Promise<{ ensemble: LocalEnsemble; elapsedMs: number }> {
  const startedAt = performance.now();
  const ensemble = await LocalEnsemble.start({ size });
  const elapsedMs = Math.round(performance.now() - startedAt);
  console.log(`${size}-member ensemble ready in ${elapsedMs} ms`);
  return { ensemble, elapsedMs };
}

async function withClient<T>(connectString: string, use: (client: TestClient) => Promise<T>): Promise<T> {
  const client = await connectClient(connectString);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/** Zombies count as dead: orphans are reaped by PID 1, which may take its time (or never come). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

async function expectFullyCleanedUp(ensemble: LocalEnsemble, pids: number[]): Promise<void> {
  await ensemble.close();
  expect(pids.filter(isAlive)).toEqual([]);
  expect(findFixtureProcesses().filter((found) => found.baseDir === ensemble.baseDir)).toEqual([]);
  expect(existsSync(ensemble.baseDir)).toBe(false);
}

function followerOf(ensemble: LocalEnsemble, leader: number): number {
  const follower = ensemble.members.find((member) => member.id !== leader && member.state === 'running');
  if (follower === undefined) throw new Error('no running follower');
  return follower.id;
}

describe('LocalEnsemble with 3 members', () => {
  let ensemble: LocalEnsemble;
  let closed = false;

  beforeAll(async () => {
    const started = await startTimed(3);
    ensemble = started.ensemble;
    // The target is < 15 s on a 2-core machine; the bound only catches pathological slowness.
    expect(started.elapsedMs).toBeLessThan(45_000);
  });

  // Every test starts from a healthy ensemble, so one failure does not cascade into the next.
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') console.log(ensemble.diagnostics(undefined, 40));
    if (closed) return;
    for (const member of ensemble.members) {
      if (member.state === 'paused') ensemble.resume(member.id);
      if (member.state === 'stopped') await ensemble.restart(member.id);
    }
    await ensemble.waitForQuorum();
  });

  afterAll(async () => {
    await ensemble?.close();
  });

  it('serves real client sessions on every member', async () => {
    await withClient(ensemble.connectString(), (client) => client.create('/hello', 'world'));
    for (const member of ensemble.members) {
      const data = await withClient(ensemble.connectString([member.id]), (client) => client.getData('/hello'));
      expect(data?.toString()).toBe('world');
    }
  });

  it('finds the leader', async () => {
    const leader = await ensemble.leader();
    for (const member of ensemble.members) {
      const expectedMode = member.id === leader ? 'leader' : 'follower';
      expect(await ensemble.fourLetterWord(member.id, 'srvr')).toContain(`Mode: ${expectedMode}`);
    }
  });

  it('honours the four-letter-word whitelist', async () => {
    expect(await ensemble.fourLetterWord(1, 'ruok')).toBe('imok');
    expect(await ensemble.fourLetterWord(1, 'mntr')).toContain('zk_server_state');
    expect(await ensemble.fourLetterWord(1, 'dump')).toContain('not in the whitelist');
  });

  describe('quota enforcement (ZooKeeper 3.8 StatsTrack format)', () => {
    // Quotas live in /zookeeper/quota/<path>/{zookeeper_limits,zookeeper_stats}. Only the
    // *HardLimit keys are enforced; `count=`/`bytes=` are soft limits that merely log. The
    // zookeeper_stats node must exist too, or the server skips the check. The quota'd node
    // itself counts, so countHardLimit=3 allows the node plus two children.
    async function setQuota(path: string, limits: string): Promise<void> {
      const superUser = await connectClient(ensemble.connectString(), { digestAuth: ensemble.superAuth });
      try {
        await superUser.create(`/zookeeper/quota${path}`);
        await superUser.create(`/zookeeper/quota${path}/zookeeper_limits`, limits);
        await superUser.create(`/zookeeper/quota${path}/zookeeper_stats`, 'count=0,bytes=0');
      } finally {
        superUser.close();
      }
    }

    it('rejects the create that exceeds a hard count limit with QUOTA_EXCEEDED', async () => {
      await withClient(ensemble.connectString(), (client) => client.create('/hard-quota'));
      await setQuota('/hard-quota', 'countHardLimit=3');

      await withClient(ensemble.connectString(), async (client) => {
        await client.create('/hard-quota/child-1');
        await client.create('/hard-quota/child-2');
        await expect(client.create('/hard-quota/child-3')).rejects.toMatchObject({
          code: ZooKeeperErrorCode.QUOTA_EXCEEDED,
        });
        expect(await client.getChildren('/hard-quota')).toHaveLength(2);
      });
    });

    it('only logs when a soft count limit is exceeded', async () => {
      await withClient(ensemble.connectString(), (client) => client.create('/soft-quota'));
      await setQuota('/soft-quota', 'count=2,bytes=-1');
      await withClient(ensemble.connectString(), async (client) => {
        for (const child of ['a', 'b', 'c']) await client.create(`/soft-quota/${child}`);
        expect(await client.getChildren('/soft-quota')).toHaveLength(3);
      });
    });
  });

  it('keeps serving while a follower is paused, and the follower catches up after resume', async () => {
    const paused = followerOf(ensemble, await ensemble.leader());
    ensemble.pause(paused);
    expect(ensemble.member(paused).state).toBe('paused');
    await expect(ensemble.fourLetterWord(paused, 'ruok')).rejects.toThrow(/timed out/);

    const others = ensemble.members.filter((member) => member.id !== paused).map((member) => member.id);
    await withClient(ensemble.connectString(others), (client) => client.create('/written-while-paused'));

    ensemble.resume(paused);
    await ensemble.waitForQuorum();
    const seen = await withClient(ensemble.connectString([paused]), (client) => client.exists('/written-while-paused'));
    expect(seen).not.toBeNull();
  });

  it('restarts a stopped member with its data and ports', async () => {
    const member = followerOf(ensemble, await ensemble.leader());
    const { clientPort, dataDir } = ensemble.member(member);
    await withClient(ensemble.connectString(), (client) => client.create('/before-restart', 'kept'));

    await ensemble.stop(member);
    expect(ensemble.member(member)).toMatchObject({ state: 'stopped', pid: undefined });
    await ensemble.restart(member);

    expect(ensemble.member(member)).toMatchObject({ state: 'running', clientPort, dataDir });
    const data = await withClient(ensemble.connectString([member]), (client) => client.getData('/before-restart'));
    expect(data?.toString()).toBe('kept');
  });

  it('re-forms the quorum after the leader is killed with SIGKILL', async () => {
    const oldLeader = await ensemble.leader();
    await ensemble.kill(oldLeader);
    expect(ensemble.member(oldLeader).state).toBe('stopped');

    await ensemble.waitForQuorum();
    const newLeader = await ensemble.leader();
    expect(newLeader).not.toBe(oldLeader);
    await withClient(ensemble.connectString(), (client) => client.create('/after-leader-loss'));

    await ensemble.restart(oldLeader);
    await ensemble.waitForQuorum();
    const seen = await withClient(ensemble.connectString([oldLeader]), (client) => client.exists('/after-leader-loss'));
    expect(seen).not.toBeNull();
  });

  it('close() leaves no JVM and no directory behind, and can be called again', async () => {
    const pids = ensemble.members.flatMap((member) => (member.pid === undefined ? [] : [member.pid]));
    expect(pids).toHaveLength(3);
    closed = true;
    await expectFullyCleanedUp(ensemble, pids);
    await ensemble.close();
  });
});

describe('LocalEnsemble sizes', () => {
  it.each([1, 5])('starts %i member(s), elects one leader and serves sessions', async (size) => {
    const { ensemble } = await startTimed(size);
    try {
      const leader = await ensemble.leader();
      const expectedLeaderMode = size === 1 ? 'standalone' : 'leader';
      expect(await ensemble.fourLetterWord(leader, 'srvr')).toContain(`Mode: ${expectedLeaderMode}`);
      await withClient(ensemble.connectString(), (client) => client.create('/sized', String(size)));
      const pids = ensemble.members.flatMap((member) => (member.pid === undefined ? [] : [member.pid]));
      expect(pids).toHaveLength(size);
      await expectFullyCleanedUp(ensemble, pids);
    } catch (error) {
      console.log(ensemble.diagnostics(undefined, 40));
      throw error;
    } finally {
      await ensemble.close();
    }
  });
});

describe('cleanup when the owning process dies without close()', () => {
  // The owner is a separate node process, so that it can really be killed.
  async function startOwner(): Promise<{ owner: ReturnType<typeof spawn>; baseDir: string; pids: number[] }> {
    const owner = spawn(process.execPath, [new URL('./support/hold-ensemble.ts', import.meta.url).pathname, '1'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: owner.stdout! }), 'line')) as [string];
    const { baseDir, pids } = JSON.parse(line) as { baseDir: string; pids: number[] };
    expect(pids.every(isAlive)).toBe(true);
    return { owner, baseDir, pids };
  }

  async function expectGoneWithin(timeoutMs: number, baseDir: string, pids: number[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((pids.some(isAlive) || existsSync(baseDir)) && Date.now() < deadline) await sleep(100);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(baseDir)).toBe(false);
  }

  it.each(['SIGTERM', 'SIGKILL'] as const)('removes JVMs and directory after %s', async (signal) => {
    const { owner, baseDir, pids } = await startOwner();
    owner.kill(signal);
    await once(owner, 'exit');
    // SIGTERM: the fixture's signal handler, at once. SIGKILL: the watchdog, which polls every second.
    await expectGoneWithin(signal === 'SIGTERM' ? 1_000 : 5_000, baseDir, pids);
  });
});
