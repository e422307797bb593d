/**
 * Leader election among controller replicas, the classic ZooKeeper recipe: each replica creates
 * an ephemeral sequential candidate node; the lowest sequence number leads; every other replica
 * watches only its predecessor (no herd when the leader goes). A replica whose session connection
 * closes stops leading at once, even before its node expires: it cannot know whether it still leads.
 */
import { EventEmitter } from 'node:events';
import { CreateMode, ErrorCode, OpCode, type RecordValue } from 'jute-ts';
import { KeeperError, type JuteClient } from 'jute-ts/client';
import { childrenOf, deleteNode, readNode } from './zookeeper.ts';

const PREFIX = 'candidate-';

export interface LeaderElectionEvents {
  leader: [];
  follower: [leader: string | null];
}

export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  readonly client: JuteClient;
  readonly path: string;
  readonly replicaId: string;
  readonly acl: RecordValue[];
  private node: string | undefined;
  private watching: string | undefined;
  private leading = false;
  private stopped = false;

  constructor(client: JuteClient, path: string, replicaId: string, acl: RecordValue[]) {
    super();
    this.client = client;
    this.path = path;
    this.replicaId = replicaId;
    this.acl = acl;
    client.on('notification', (event) => {
      if (event.path === this.watching) this.check().catch(() => {});
    });
    client.on('close', () => this.stepDown());
  }

  get isLeader(): boolean {
    return this.leading && !this.client.closed;
  }

  async start(): Promise<void> {
    // Candidates left by this replica's earlier sessions (same id) would queue it behind itself.
    for (const child of (await childrenOf(this.client, this.path)) ?? []) {
      const node = await readNode(this.client, `${this.path}/${child}`);
      if (node?.data.toString() === this.replicaId) await deleteNode(this.client, `${this.path}/${child}`);
    }
    const reply = await this.client.request(OpCode.create, {
      path: `${this.path}/${PREFIX}`,
      data: Buffer.from(this.replicaId),
      acl: this.acl,
      flags: CreateMode.EPHEMERAL_SEQUENTIAL,
    });
    if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'create', { path: this.path });
    this.node = (reply.body!.path as string).slice(this.path.length + 1);
    await this.check();
  }

  /** Who leads now: the replica id in the lowest candidate node. */
  async currentLeader(): Promise<string | null> {
    const candidates = ((await childrenOf(this.client, this.path)) ?? []).filter((c) => c.startsWith(PREFIX)).sort();
    for (const candidate of candidates) {
      const node = await readNode(this.client, `${this.path}/${candidate}`);
      if (node !== null) return node.data.toString();
    }
    return null;
  }

  private async check(): Promise<void> {
    if (this.stopped || this.node === undefined || this.client.closed) return;
    const candidates = ((await childrenOf(this.client, this.path)) ?? []).filter((c) => c.startsWith(PREFIX)).sort();
    const index = candidates.indexOf(this.node);
    if (index < 0) {
      // Our node is gone (session expired while connected is impossible; deleted by hand): step down.
      this.stepDown();
      return;
    }
    if (index === 0) {
      this.watching = undefined;
      if (!this.leading) {
        this.leading = true;
        this.emit('leader');
      }
      return;
    }
    const predecessor = `${this.path}/${candidates[index - 1]}`;
    this.watching = predecessor;
    const reply = await this.client.request(OpCode.exists, { path: predecessor, watch: true });
    if (reply.err === ErrorCode.NONODE) return this.check();
    this.emit('follower', await this.currentLeader().catch(() => null));
  }

  private stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    this.emit('follower', null);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stepDown();
    if (this.node !== undefined && !this.client.closed) await deleteNode(this.client, `${this.path}/${this.node}`).catch(() => {});
  }
}
