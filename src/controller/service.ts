/**
 * One controller replica: keeps a ZooKeeper session (reconnecting with a new session when it is
 * lost), takes part in the leader election, and while it leads converges every tenant: at once
 * when desired state changes (watches) and every reconcileIntervalMs anyway (drift, failed
 * applies). Followers only serve the HTTP API.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.ts';
import { openContext, type ControllerContext } from './context.ts';
import { LeaderElection } from './leader.ts';
import type { ControllerSettings } from './settings.ts';

export interface ControllerState {
  replicaId: string;
  connected: boolean;
  leader: boolean;
  /** Reconcile passes this replica ran (over all tenants). */
  passes: number;
  /** Tenants converged by this replica, in total. */
  converged: number;
  lastPassAt: string | null;
  lastError: string | null;
}

export class ControllerService {
  readonly settings: ControllerSettings;
  readonly log: Logger;
  readonly replicaId: string;
  private context: ControllerContext | undefined;
  private election: LeaderElection | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private pendingPass = false;
  private running: Promise<void> | undefined;
  private readonly counters = { passes: 0, converged: 0, lastPassAt: null as string | null, lastError: null as string | null };

  constructor(settings: ControllerSettings, log: Logger, replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`) {
    this.settings = settings;
    this.log = log;
    this.replicaId = replicaId;
  }

  /** Connects and joins the election; resolves once the first session is up. */
  async start(): Promise<void> {
    await this.connect();
    this.running = this.run();
  }

  get state(): ControllerState {
    return {
      replicaId: this.replicaId,
      connected: this.context !== undefined && !this.context.client.closed,
      leader: this.election?.isLeader ?? false,
      passes: this.counters.passes,
      converged: this.counters.converged,
      lastPassAt: this.counters.lastPassAt,
      lastError: this.counters.lastError,
    };
  }

  /** The current session's context, for the HTTP API; undefined while reconnecting. */
  get current(): ControllerContext | undefined {
    return this.context !== undefined && !this.context.client.closed ? this.context : undefined;
  }

  async leaderId(): Promise<string | null> {
    return (await this.election?.currentLeader().catch(() => null)) ?? null;
  }

  private async connect(): Promise<void> {
    const context = await openContext(this.settings, this.replicaId, false);
    const election = new LeaderElection(context.client, context.store.leaderPath, this.replicaId, context.store.acl);
    election.on('leader', () => {
      this.log.info({ replica: this.replicaId }, 'controller is the leader');
      this.nudge();
    });
    election.on('follower', (leader) => this.log.info({ replica: this.replicaId, leader }, 'controller follows'));
    context.client.on('notification', () => this.nudge());
    context.client.on('close', (reason) => {
      this.log.warn({ replica: this.replicaId, reason }, 'ZooKeeper session connection closed; stopped leading, reconnecting');
      this.nudge();
    });
    this.context = context;
    this.election = election;
    await election.start();
  }

  /** Asks for a reconcile pass soon (desired state changed, leadership gained, connection lost). */
  nudge(): void {
    this.pendingPass = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.context === undefined || this.context.client.closed) {
        // The lost context's sessions with the other ensembles go with it.
        await this.context?.close().catch(() => {});
        try {
          await this.connect();
        } catch (error) {
          this.log.warn({ err: (error as Error).message }, 'cannot reconnect to the ensemble; retrying');
          await sleep(1000);
          continue;
        }
      }
      if (this.election?.isLeader) await this.pass();
      await this.waitForWork();
    }
  }

  private waitForWork(): Promise<void> {
    if (this.pendingPass || this.stopped) {
      this.pendingPass = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.settings.controller.reconcileIntervalMs);
      this.wake = () => {
        this.wake = undefined;
        this.pendingPass = false;
        // Changes come in bursts (a write touches several znodes): gather them into one pass.
        setTimeout(done, 50);
      };
    });
  }

  /** Converges every tenant once; re-arms the watches that wake the next pass. */
  private async pass(): Promise<void> {
    const context = this.context!;
    this.pendingPass = false;
    try {
      const names = await context.store.tenantNames(true);
      for (const name of names) {
        if (!this.election?.isLeader) return; // lost leadership midway: the new leader carries on
        try {
          await context.store.tenant(name, true);
          const outcome = await context.reconciler.converge(name);
          if (outcome !== 'absent') this.counters.converged++;
        } catch (error) {
          this.counters.lastError = `${name}: ${(error as Error).message}`;
          this.log.error({ tenant: name, err: (error as Error).message }, 'reconcile failed; retried next pass');
        }
      }
      this.counters.passes++;
      this.counters.lastPassAt = new Date().toISOString();
    } catch (error) {
      this.counters.lastError = (error as Error).message;
      this.log.error({ err: (error as Error).message }, 'reconcile pass failed');
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running?.catch(() => {});
    await this.election?.stop();
    await this.context?.close();
  }
}
