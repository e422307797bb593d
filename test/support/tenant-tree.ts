/**
 * Tenant trees for the mover's tests and benchmark, written straight to an ensemble as its admin
 * (super) user: the same nodes a tenant would have made through the proxy.
 */
import { CreateMode, ErrorCode, OpCode, Perms, type RecordValue } from 'jute-ts';
import { JuteClient, KeeperError } from 'jute-ts/client';
import type { LocalEnsemble } from '../../src/embedded/ensemble.ts';

export const WORLD_ACL: RecordValue[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

export async function adminSession(ensemble: LocalEnsemble): Promise<JuteClient> {
  const member = ensemble.members[0]!;
  const client = await JuteClient.connect({ host: member.host, port: member.clientPort, sessionTimeoutMs: 30_000 });
  const { user, password } = ensemble.superAuth;
  await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${user}:${password}`) });
  return client;
}

/** Creates `path` and its missing parents (world ACL, no data). */
export async function createParents(client: JuteClient, path: string): Promise<void> {
  const parts = path.split('/').slice(1);
  for (let i = 1; i <= parts.length; i++) {
    const reply = await client.request(OpCode.create, { path: `/${parts.slice(0, i).join('/')}`, data: null, acl: WORLD_ACL, flags: 0 });
    if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new KeeperError(reply.err, 'create', { path });
  }
}

/**
 * `count` persistent znodes under `root` (which must exist), 100 per group node:
 * root/g<i>/n<j>, each with a few bytes of data. All creates go out at once: one session's
 * requests are applied in order, so every group exists before its children's creates arrive.
 */
export async function createWideTree(client: JuteClient, root: string, count: number): Promise<string[]> {
  const paths: string[] = [];
  const groups = Math.ceil(count / 101);
  for (let g = 0; g < groups && paths.length < count; g++) {
    const group = `${root}/g${g}`;
    paths.push(group);
    for (let n = 0; n < 100 && paths.length < count; n++) paths.push(`${group}/n${n}`);
  }
  const replies = await Promise.all(
    paths.map((path) =>
      client.request(OpCode.create, { path, data: Buffer.from(`data of ${path}`), acl: WORLD_ACL, flags: CreateMode.PERSISTENT }),
    ),
  );
  const failed = replies.findIndex((reply) => reply.err !== ErrorCode.OK);
  if (failed >= 0) throw new KeeperError(replies[failed]!.err, 'create', { path: paths[failed] });
  return paths;
}
