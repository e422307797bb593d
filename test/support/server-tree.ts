/**
 * A direct session with one ensemble member (no proxy in between) for looking at the real,
 * server-side tree: where did a tenant's writes actually land? Every read is preceded by a sync,
 * so it sees whatever any member had committed before the call. It authenticates as the
 * ensemble's super user: tenant nodes carry ACLs that refuse everyone else.
 */
import { ErrorCode, OpCode, type RecordValue } from 'jute-ts';
import { JuteClient, KeeperError } from 'jute-ts/client';
import type { LocalEnsemble } from '../../src/embedded/ensemble.ts';

export class ServerTree {
  readonly client: JuteClient;

  private constructor(client: JuteClient) {
    this.client = client;
  }

  static async open(ensemble: LocalEnsemble, memberIndex = 0): Promise<ServerTree> {
    const member = ensemble.members[memberIndex]!;
    const client = await JuteClient.connect({ host: member.host, port: member.clientPort, sessionTimeoutMs: 30_000 });
    const { user, password } = ensemble.superAuth;
    await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${user}:${password}`) });
    return new ServerTree(client);
  }

  private async sync(path: string): Promise<void> {
    await this.client.call(OpCode.sync, { path });
  }

  /** Children names, sorted; null when the node does not exist. */
  async children(path: string): Promise<string[] | null> {
    await this.sync('/');
    const reply = await this.client.request(OpCode.getChildren, { path, watch: false });
    if (reply.err === ErrorCode.NONODE) return null;
    if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'getChildren', { path });
    return [...(reply.body!.children as string[])].sort();
  }

  async exists(path: string): Promise<boolean> {
    await this.sync('/');
    const reply = await this.client.request(OpCode.exists, { path, watch: false });
    if (reply.err === ErrorCode.NONODE) return false;
    if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'exists', { path });
    return true;
  }

  /** The node's data, null when it has none; throws when the node does not exist. */
  async data(path: string): Promise<Buffer | null> {
    await this.sync('/');
    const reply = await this.client.call(OpCode.getData, { path, watch: false });
    return (reply.body!.data as Buffer | null) ?? null;
  }

  /** The node's ACL as the ensemble stores it (after a sync, like every read here). */
  async acl(path: string): Promise<RecordValue[]> {
    await this.sync('/');
    return (await this.client.call(OpCode.getACL, { path })).body!.acl as RecordValue[];
  }

  /** Every path under `root` (itself included), sorted; empty when `root` does not exist. */
  async subtree(root: string): Promise<string[]> {
    const paths: string[] = [];
    const pending = [root];
    while (pending.length > 0) {
      const path = pending.pop()!;
      const children = await this.children(path);
      if (children === null) continue;
      paths.push(path);
      for (const child of children) pending.push(path === '/' ? `/${child}` : `${path}/${child}`);
    }
    return paths.sort();
  }

  /** Root children other than the ones ZooKeeper and the proxy own (`/zookeeper`, `/tenants`). */
  async foreignRootChildren(): Promise<string[]> {
    return ((await this.children('/')) ?? []).filter((name) => name !== 'zookeeper' && name !== 'tenants');
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
