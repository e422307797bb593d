/**
 * The chaos topology: a 3-member ensemble, a fault relay in front of each member, two proxy
 * replicas (real CLI processes sharing the platform secret) whose `ensemble` names the relays,
 * and the contenders, whose connect string lists both replicas. Replicas listen on fixed ports,
 * so a restarted replica is where clients expect it.
 */
import { ErrorCode, OpCode } from 'jute-ts';
import { LocalEnsemble } from '../../../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../../../src/embedded/free-ports.ts';
import { pollUntil } from '../../../src/embedded/poll.ts';
import { FaultRelay } from '../fault-relay.ts';
import type { CompiledJava } from '../java.ts';
import { spawnProxyProcess, type ProxyProcess, type TestTenant } from '../proxy.ts';
import { ServerTree } from '../server-tree.ts';
import { ContenderProcess } from './contenders.ts';
import { ackedActions, type HistoryEvent, type LogEntry, type TenantState } from './history.ts';

export interface ChaosOptions {
  tenants: string[];
  /** What the contenders ask for (the ensemble's tickTime bounds it to 2..20 ticks). */
  sessionTimeoutMs: number;
  /** Pause between a leader's actions. */
  actionPauseMs: number;
  tickTimeMs: number;
  /** SIGTERM drain period of the replicas. */
  drainMs: number;
}

export const DEFAULT_CHAOS_OPTIONS: ChaosOptions = {
  tenants: ['chaos-a', 'chaos-b'],
  sessionTimeoutMs: 6_000,
  actionPauseMs: 50,
  tickTimeMs: 500,
  drainMs: 2_000,
};

const PROXY_LOG_LINES = 5_000;

export class ChaosTopology {
  readonly options: ChaosOptions;
  readonly ensemble: LocalEnsemble;
  /** relays[i] fronts ensemble.members[i]. */
  readonly relays: FaultRelay[];
  readonly proxies: ProxyProcess[] = [];
  /** Listener ports: listenPorts[replica][tenant index]. */
  readonly #listenPorts: number[][];
  #contenders: ContenderProcess | undefined;

  private constructor(options: ChaosOptions, ensemble: LocalEnsemble, relays: FaultRelay[], listenPorts: number[][]) {
    this.options = options;
    this.ensemble = ensemble;
    this.relays = relays;
    this.#listenPorts = listenPorts;
  }

  get contenders(): ContenderProcess {
    return this.#contenders ?? fail('the contenders have not started');
  }

  static async start(compiled: CompiledJava, options: ChaosOptions = DEFAULT_CHAOS_OPTIONS): Promise<ChaosTopology> {
    const ensemble = await LocalEnsemble.start({
      size: 3,
      tickTime: options.tickTimeMs,
      // A loaded 2-core machine must not make followers drop out (syncLimit is in ticks).
      serverProperties: { syncLimit: '10', initLimit: '20' },
    });
    const relays: FaultRelay[] = [];
    let topology: ChaosTopology | undefined;
    try {
      for (const member of ensemble.members) relays.push(await FaultRelay.start(member.host, member.clientPort));
      const ports = await reserveFreePorts(2 * options.tenants.length);
      const listenPorts = [ports.slice(0, options.tenants.length), ports.slice(options.tenants.length)];
      const connectStrings = new Map(
        options.tenants.map((tenant, i) => [tenant, listenPorts.map((replica) => `127.0.0.1:${replica[i]}`).join(',')]),
      );
      topology = new ChaosTopology(options, ensemble, relays, listenPorts);
      await Promise.all([0, 1].map((replica) => topology!.startProxy(replica)));
      topology.#contenders = new ContenderProcess(compiled, connectStrings, options.sessionTimeoutMs, options.actionPauseMs);
      await topology.waitForActions('first leader actions', 0, 5, 90_000);
      return topology;
    } catch (error) {
      if (topology) await topology.close();
      else {
        await Promise.all(relays.map((relay) => relay.close()));
        await ensemble.close();
      }
      throw error;
    }
  }

  /** Starts replica `index` (0 or 1) on its fixed ports, replacing a dead one. */
  async startProxy(index: number): Promise<ProxyProcess> {
    const tenants: TestTenant[] = this.options.tenants.map((name, i) => ({ name, listen: [`127.0.0.1:${this.#listenPorts[index]![i]}`] }));
    const ensemble = this.relays.map((relay) => relay.address).join(',');
    const proxy = await spawnProxyProcess(
      ensemble,
      tenants,
      { drain: { periodMs: this.options.drainMs, fastPeriodMs: 100 } },
      { keepLogLines: PROXY_LOG_LINES },
    );
    this.proxies[index] = proxy;
    return proxy;
  }

  get history(): readonly HistoryEvent[] {
    return this.contenders.history;
  }

  /** Resolves once every tenant has `count` acknowledged leader actions after `since` (epoch ms). */
  waitForActions(description: string, since: number, count: number, timeoutMs = 60_000): Promise<number> {
    return this.contenders.waitFor(
      description,
      (history) => {
        const done = this.options.tenants.every(
          (tenant) => ackedActions(history, tenant).filter((action) => action.t > since).length >= count,
        );
        return done ? Date.now() : undefined;
      },
      timeoutMs,
    );
  }

  /** The session of the tenant's current leader (its latest acknowledged action). */
  leaderSession(tenant: string): string {
    const last = ackedActions(this.history, tenant).at(-1);
    if (!last) throw new Error(`${tenant} has no leader action yet`);
    return last.session;
  }

  /** The replica that most recently established `session` (a resumed session is logged again). */
  replicaCarrying(session: string): number {
    let found = -1;
    let foundAt = -1;
    this.proxies.forEach((proxy, index) => {
      proxy.logs.forEach((line, position) => {
        if (line.includes('"msg":"session established"') && line.includes(`"session":"${session}"`)) {
          const time = Number(/"time":(\d+)/.exec(line)?.[1] ?? position);
          if (time > foundAt) [found, foundAt] = [index, time];
        }
      });
    });
    if (found < 0) throw new Error(`no replica logged session ${session}`);
    return found;
  }

  /** Which member's `cons` lists the session (undefined when none does right now). */
  async memberHolding(session: string): Promise<number | undefined> {
    for (const member of this.ensemble.members) {
      if (member.state !== 'running') continue;
      const cons = await this.ensemble.fourLetterWord(member.id, 'cons').catch(() => '');
      if (cons.includes(`sid=${session},`) || cons.includes(`sid=${session})`)) return member.id;
    }
    return undefined;
  }

  /** Restarts stopped members and waits for a serving quorum with every member in it. */
  async restoreEnsemble(): Promise<void> {
    for (const member of this.ensemble.members) if (member.state === 'paused') this.ensemble.resume(member.id);
    await Promise.all(
      this.ensemble.members.filter((member) => member.state === 'stopped').map((member) => this.ensemble.restart(member.id)),
    );
    await this.ensemble.waitForQuorum(60_000);
  }

  /**
   * Every tenant's checkpoint counter and log entries as the ensemble holds them (read as the
   * super user, after a sync). Leaders keep acting meanwhile: everything acknowledged before
   * the call is in the answer, and perhaps more.
   */
  async serverState(): Promise<TenantState[]> {
    const tree = await pollUntil(
      async () => {
        const running = this.ensemble.members.findIndex((member) => member.state === 'running');
        return running < 0 ? undefined : ServerTree.open(this.ensemble, running);
      },
      { description: 'a direct session with a member', deadline: Date.now() + 30_000, intervalMs: 500 },
    );
    try {
      const states: TenantState[] = [];
      for (const tenant of this.options.tenants) {
        const root = `/tenants/${tenant}`;
        const counter = (await tree.exists(`${root}/checkpoint-counter`))
          ? (await tree.data(`${root}/checkpoint-counter`))!.readInt32BE(0)
          : undefined;
        const names = (await tree.children(`${root}/log`)) ?? [];
        const replies = await Promise.all(
          names.map((name) => tree.client.request(OpCode.getData, { path: `${root}/log/${name}`, watch: false })),
        );
        const entries: LogEntry[] = names.map((name, i) => {
          const reply = replies[i]!;
          if (reply.err !== ErrorCode.OK) throw new Error(`getData ${root}/log/${name}: error ${reply.err}`);
          return { path: `/log/${name}`, payload: JSON.parse((reply.body!.data as Buffer).toString('utf8')) as LogEntry['payload'] };
        });
        states.push({ tenant, entries, counter });
      }
      const foreign = await tree.foreignRootChildren();
      if (foreign.length > 0) throw new Error(`nodes outside /tenants at the ensemble's root: ${foreign.join(', ')}`);
      return states;
    } finally {
      await tree.close();
    }
  }

  /** Proxy warnings and the contenders' stderr, for a failure message. */
  diagnostics(): string {
    const proxyLines = this.proxies.map(
      (proxy, i) =>
        `--- replica ${i}\n${proxy.logs
          .filter((l) => /"level":(40|50)/.test(l))
          .slice(-15)
          .join('\n')}`,
    );
    return [
      ...proxyLines,
      `--- contenders stderr\n${this.contenders.stderr.slice(-20).join('\n')}`,
      this.ensemble.diagnostics(undefined, 10),
    ].join('\n');
  }

  async close(): Promise<void> {
    await this.#contenders?.stop().catch(() => {});
    await Promise.all(this.proxies.map((proxy) => proxy.close()));
    await Promise.all(this.relays.map((relay) => relay.close()));
    await this.ensemble.close();
  }
}

function fail(message: string): never {
  throw new Error(message);
}
