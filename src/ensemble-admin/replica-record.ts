/**
 * This replica's record on the home ensemble (docs/ensembles.md): an ephemeral znode
 * `<parent>/<id>` whose JSON data says which registry znode version the replica has applied and
 * which held tenants have nothing in flight to their ensemble. A mover reads every record before
 * its last copy pass. The record lives as long as this process's session: a replica that dies
 * leaves no record behind once its session expires.
 *
 * One record per worker process (workers share nothing, each applies the registry and holds its
 * own connections), named hostname-pid-random.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CreateMode, ErrorCode, OpCode } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import type { EnsembleMembers } from '../backend/members.ts';
import type { Logger } from '../observability/logger.ts';
import type { DigestIdentity } from '../tenancy/credentials.ts';
import { openPlatformSession } from './platform-session.ts';
import { ReconnectBackoff } from './reconnect-backoff.ts';
import { platformAcl } from './root-keeper.ts';

export interface ReplicaState {
  /** Version of the registry znode whose content this replica has in force (-1: none yet). */
  registryVersion: number;
  /** Tenants held (`hold: true`) with no request or handshake in flight to their ensemble. */
  quiesced: string[];
}

export interface ReplicaRecordOptions {
  members: EnsembleMembers;
  /** The znode holding every replica's record (registry.replicasPath). */
  parent: string;
  id: string;
  admin: DigestIdentity | undefined;
  connectTimeoutMs: number;
  log: Logger;
}

/** Short, so that a dead replica's record goes soon: a mover waits for every record it sees. */
const SESSION_TIMEOUT_MS = 10_000;

/** hostname-pid-random: unique per process, and says where the process runs. */
export function replicaId(): string {
  return `${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class ReplicaRecord {
  readonly path: string;
  private readonly options: ReplicaRecordOptions;
  private state: ReplicaState = { registryVersion: -1, quiesced: [] };
  /** What the znode holds now (undefined: not written by the current session). */
  private written: string | undefined;
  private client: JuteClient | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;
  private started = false;
  private readonly retry = new ReconnectBackoff(() => void this.connect());

  constructor(options: ReplicaRecordOptions) {
    this.options = options;
    this.path = `${options.parent}/${options.id}`;
  }

  start(state: ReplicaState): void {
    this.state = state;
    this.started = true;
    void this.connect();
  }

  /** The record's new content; written when it differs from what the znode holds. */
  set(state: ReplicaState): void {
    this.state = state;
    if (this.started) this.sync();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retry.cancel();
    const client = this.client;
    this.client = undefined;
    await this.syncing?.catch(() => {});
    await client?.close().catch(() => {}); // the ephemeral goes with the session
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { members, admin, connectTimeoutMs, log } = this.options;
    try {
      const client = await openPlatformSession(members, {
        connectTimeoutMs,
        sessionTimeoutMs: SESSION_TIMEOUT_MS,
        admin,
        purpose: `to keep the replica record ${this.path}`,
      });
      if (this.closed) {
        await client.close();
        return;
      }
      this.client = client;
      this.written = undefined;
      this.retry.succeeded();
      client.once('close', (reason) => {
        if (this.client !== client || this.closed) return;
        this.client = undefined;
        log.warn({ replica: this.path, reason }, 'replica record session lost; reconnecting');
        this.scheduleConnect();
      });
      this.sync();
    } catch (error) {
      log.warn(
        { replica: this.path, err: (error as Error).message, retryMs: this.retry.nextMs },
        'cannot write the replica record; retrying',
      );
      this.scheduleConnect();
    }
  }

  private scheduleConnect(): void {
    if (!this.closed) this.retry.schedule();
  }

  /** One write at a time; whatever changed meanwhile is written by the next round. */
  private sync(): void {
    const client = this.client;
    if (this.syncing !== undefined || client === undefined) return;
    this.syncing = this.writeLatest(client)
      .catch((error: unknown) => {
        this.options.log.warn({ replica: this.path, err: (error as Error).message }, 'writing the replica record failed');
        if (this.client === client) client.destroy('replica record write failed'); // reconnects through 'close'
      })
      .finally(() => {
        this.syncing = undefined;
        if (this.client === client && this.written !== JSON.stringify(this.state)) this.sync();
      });
  }

  private async writeLatest(client: JuteClient): Promise<void> {
    const text = JSON.stringify(this.state);
    if (text === this.written) return;
    const data = Buffer.from(text);
    if (this.written === undefined) await this.create(client, data);
    else {
      const reply = await client.request(OpCode.setData, { path: this.path, data, version: -1 });
      if (reply.err !== ErrorCode.OK) throw new Error(`setData ${this.path}: error ${reply.err}`);
    }
    this.written = text;
  }

  /** Creates the parents (platform ACL) and the ephemeral record, replacing one a lost session left. */
  private async create(client: JuteClient, data: Buffer): Promise<void> {
    const acl = platformAcl(this.options.admin);
    const parts = this.path.split('/').slice(1);
    for (let i = 1; i < parts.length; i++) {
      const path = `/${parts.slice(0, i).join('/')}`;
      const reply = await client.request(OpCode.create, { path, data: null, acl, flags: 0 });
      if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new Error(`create ${path}: error ${reply.err}`);
    }
    let reply = await client.request(OpCode.create, { path: this.path, data, acl, flags: CreateMode.EPHEMERAL });
    if (reply.err === ErrorCode.NODEEXISTS) {
      // The previous session's record, until that session expires: this session's replaces it.
      await client.request(OpCode.delete, { path: this.path, version: -1 });
      reply = await client.request(OpCode.create, { path: this.path, data, acl, flags: CreateMode.EPHEMERAL });
    }
    if (reply.err !== ErrorCode.OK) throw new Error(`create ${this.path}: error ${reply.err}`);
  }
}
