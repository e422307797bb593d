/**
 * The controller's ZooKeeper session: one JuteClient to any reachable ensemble member,
 * authenticated as the platform admin, plus the few tree operations the controller needs.
 */
import { ErrorCode, OpCode, type RecordValue } from 'jute-ts';
import { KeeperError, type JuteClient } from 'jute-ts/client';
import { EnsembleMembers } from '../backend/members.ts';
import { openPlatformSession } from '../ensemble-admin/platform-session.ts';
import type { HostPort } from '../config/config.ts';
import type { DigestIdentity } from '../tenancy/credentials.ts';

export function connectEnsemble(
  members: readonly HostPort[],
  admin: DigestIdentity | undefined,
  sessionTimeoutMs = 10_000,
): Promise<JuteClient> {
  // Random member order (healthy first) spreads controllers and CLI calls over the members.
  return openPlatformSession(new EnsembleMembers(members, { initialMs: 500, maxMs: 5000 }), {
    connectTimeoutMs: 3000,
    sessionTimeoutMs,
    admin,
    purpose: 'for the controller',
  });
}

export interface NodeData {
  data: Buffer;
  version: number;
}

/** Data and version of `path`, or null when it does not exist. */
export async function readNode(client: JuteClient, path: string, watch = false): Promise<NodeData | null> {
  const reply = await client.request(OpCode.getData, { path, watch });
  if (reply.err === ErrorCode.NONODE) return null;
  if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'getData', { path });
  return { data: (reply.body!.data as Buffer | null) ?? Buffer.alloc(0), version: (reply.body!.stat as RecordValue).version as number };
}

/** Sorted child names, or null when `path` does not exist. */
export async function childrenOf(client: JuteClient, path: string, watch = false): Promise<string[] | null> {
  const reply = await client.request(OpCode.getChildren, { path, watch });
  if (reply.err === ErrorCode.NONODE) return null;
  if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'getChildren', { path });
  return [...(reply.body!.children as string[])].sort();
}

/** Creates `path` and its missing parents with `acl`; existing nodes are left as they are. */
export async function ensurePath(client: JuteClient, path: string, acl: RecordValue[]): Promise<void> {
  const parts = path.split('/').slice(1);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    const reply = await client.request(OpCode.create, { path: prefix, data: null, acl, flags: 0 });
    if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new KeeperError(reply.err, 'create', { path: prefix });
  }
}

/** Creates a node; false when it already exists. */
export async function createNode(client: JuteClient, path: string, data: Buffer, acl: RecordValue[], flags = 0): Promise<boolean> {
  const reply = await client.request(OpCode.create, { path, data, acl, flags });
  if (reply.err === ErrorCode.NODEEXISTS) return false;
  if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'create', { path });
  return true;
}

/** setData at `version`; false on BADVERSION or NONODE (someone else changed it first). */
export async function setNode(client: JuteClient, path: string, data: Buffer, version: number): Promise<boolean> {
  const reply = await client.request(OpCode.setData, { path, data, version });
  if (reply.err === ErrorCode.BADVERSION || reply.err === ErrorCode.NONODE) return false;
  if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, 'setData', { path });
  return true;
}

/** Deletes `path` (at `version`, -1: any); false on BADVERSION; NONODE counts as done. */
export async function deleteNode(client: JuteClient, path: string, version = -1): Promise<boolean> {
  const reply = await client.request(OpCode.delete, { path, version });
  if (reply.err === ErrorCode.BADVERSION) return false;
  if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NONODE) throw new KeeperError(reply.err, 'delete', { path });
  return true;
}

/** Deletes `path` and everything under it, children first. */
export async function deleteTree(client: JuteClient, path: string): Promise<void> {
  for (const child of (await childrenOf(client, path)) ?? []) await deleteTree(client, `${path}/${child}`);
  const reply = await client.request(OpCode.delete, { path, version: -1 });
  // NOTEMPTY: a child appeared meanwhile (a tenant client still writing); go again.
  if (reply.err === ErrorCode.NOTEMPTY) return deleteTree(client, path);
  if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NONODE) throw new KeeperError(reply.err, 'delete', { path });
}
