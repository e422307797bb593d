/**
 * Makes sure a tenant's root znode (and its parents) exists on the ensemble before any of the
 * tenant's requests is forwarded: Curator and others assume "/" exists.
 */
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import type { EnsembleMembers } from '../backend/members.ts';
import type { Logger } from '../observability/logger.ts';
import type { Tenant } from './tenant.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

export class TenantRootKeeper {
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly members: EnsembleMembers;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;

  constructor(members: EnsembleMembers, log: Logger, connectTimeoutMs: number) {
    this.members = members;
    this.log = log;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  ensure(tenant: Tenant): Promise<void> {
    const key = tenant.chroot.root;
    let promise = this.ensured.get(key);
    if (promise === undefined) {
      promise = this.create(tenant.chroot.root).catch((error: unknown) => {
        this.ensured.delete(key); // try again with the next connection
        throw error;
      });
      this.ensured.set(key, promise);
    }
    return promise;
  }

  private async create(root: string): Promise<void> {
    const client = await this.connect();
    try {
      const parts = root.split('/').slice(1);
      for (let i = 1; i <= parts.length; i++) {
        const path = `/${parts.slice(0, i).join('/')}`;
        const reply = await client.request(OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 });
        if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) {
          throw new Error(`create ${path}: error ${reply.err}`);
        }
      }
      this.log.info({ chroot: root }, 'tenant root ready');
    } finally {
      await client.close();
    }
  }

  private async connect(): Promise<JuteClient> {
    const failures: string[] = [];
    for (const member of this.members.connectionOrder()) {
      try {
        return await JuteClient.connect({ host: member.address.host, port: member.address.port, connectTimeoutMs: this.connectTimeoutMs, sessionTimeoutMs: 10_000 });
      } catch (error) {
        failures.push(`${member.key}: ${(error as Error).message}`);
      }
    }
    throw new Error(`cannot reach the ensemble to create tenant roots (${failures.join('; ')})`);
  }
}
