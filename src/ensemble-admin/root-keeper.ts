/**
 * Makes sure a tenant's root znode exists on the ensemble, with an ACL that grants only the
 * tenant's identity (and the platform admin), before any of the tenant's requests is forwarded:
 * Curator and others assume "/" exists, and the ensemble must refuse every other identity.
 * A root that exists with an ACL opening it to other tenants (a hand-made node) is corrected.
 */
import { ErrorCode, OpCode, Perms, type RecordValue } from 'jute-ts';
import type { EnsembleMembers } from '../backend/members.ts';
import type { JuteClient } from 'jute-ts/client';
import { openPlatformSession } from './platform-session.ts';
import type { Logger } from '../observability/logger.ts';
import { applyQuota, type Quota } from './quota.ts';
import { TENANT_USER_PREFIX, type DigestIdentity } from '../tenancy/credentials.ts';
import type { Tenant } from '../tenancy/tenant.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const digestAcl = (identity: DigestIdentity) => ({ perms: Perms.ALL, id: { scheme: 'digest', id: identity.id } });

/** The ACL a tenant root must have: the tenant's identity, and the platform admin when there is one. */
function tenantRootAcl(identity: DigestIdentity, admin: DigestIdentity | undefined): RecordValue[] {
  return [digestAcl(identity), ...(admin ? [digestAcl(admin)] : [])];
}

/** ACL of the platform's own nodes (/tenants, /zkproxy, ...): admin-only when an admin is configured. */
export function platformAcl(admin: DigestIdentity | undefined): RecordValue[] {
  return admin ? [digestAcl(admin)] : OPEN_ACL;
}

export interface TenantRootSpec {
  root: string;
  identity: DigestIdentity;
  admin: DigestIdentity | undefined;
  quota: Quota;
}

/**
 * Creates `root` (and its platform-owned parents) with the tenant root ACL, corrects the ACL of a
 * root that exists with another one, and sets the hard quota. Idempotent. `client` must be
 * authenticated as the admin when there is one.
 */
export async function ensureTenantRoot(
  client: JuteClient,
  spec: TenantRootSpec,
): Promise<{ aclCorrected: boolean; quota: Awaited<ReturnType<typeof applyQuota>> }> {
  const { root } = spec;
  const parentAcl = platformAcl(spec.admin);
  const parts = root.split('/').slice(1);
  for (let i = 1; i < parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    const reply = await client.request(OpCode.create, { path, data: null, acl: parentAcl, flags: 0 });
    if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new Error(`create ${path}: error ${reply.err}`);
  }
  const acl = tenantRootAcl(spec.identity, spec.admin);
  let aclCorrected = false;
  const created = await client.request(OpCode.create, { path: root, data: null, acl, flags: 0 });
  if (created.err === ErrorCode.NODEEXISTS) {
    // Without a platform admin, only the tenant's own identity may read (and correct) the ACL of
    // a root that another replica made: this session takes it on too.
    if (spec.admin === undefined)
      await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${spec.identity.user}:${spec.identity.password}`) });
    const current = await client.request(OpCode.getACL, { path: root });
    if (current.err === ErrorCode.NOAUTH) {
      // The tenant gave its root an ACL that names neither its own identity nor an admin: it may
      // (ZooKeeper lets a chroot's owner do that), and only an operator can undo it.
    } else if (current.err !== ErrorCode.OK) {
      throw new Error(`getACL ${root}: error ${current.err}`);
    } else if (!isSafeRootAcl(current.body!.acl as RecordValue[], spec)) {
      await client.call(OpCode.setACL, { path: root, acl, version: -1 });
      aclCorrected = true;
    }
  } else if (created.err !== ErrorCode.OK) {
    throw new Error(`create ${root}: error ${created.err}`);
  }
  // The hard quota, enforced by ZooKeeper itself: QUOTAEXCEEDED reaches the client unchanged.
  const quota = await applyQuota(client, root, spec.quota);
  return { aclCorrected, quota };
}

export class TenantRootKeeper {
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly members: EnsembleMembers;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly admin: DigestIdentity | undefined;

  constructor(members: EnsembleMembers, log: Logger, connectTimeoutMs: number, admin: DigestIdentity | undefined) {
    this.members = members;
    this.log = log;
    this.connectTimeoutMs = connectTimeoutMs;
    this.admin = admin;
  }

  /** The ACL a tenant root must have. */
  rootAcl(tenant: Tenant): RecordValue[] {
    return tenantRootAcl(tenant.identity, this.admin);
  }

  ensure(tenant: Tenant): Promise<void> {
    const key = tenant.chroot.root;
    let promise = this.ensured.get(key);
    if (promise === undefined) {
      promise = this.create(tenant).catch((error: unknown) => {
        this.ensured.delete(key); // try again with the next connection
        throw error;
      });
      this.ensured.set(key, promise);
    }
    return promise;
  }

  /** The tenant's limits changed: its quota is applied again (the root is checked again too). */
  refresh(tenant: Tenant): Promise<void> {
    this.ensured.delete(tenant.chroot.root);
    return this.ensure(tenant);
  }

  private async create(tenant: Tenant): Promise<void> {
    const client = await openPlatformSession(this.members, {
      connectTimeoutMs: this.connectTimeoutMs,
      sessionTimeoutMs: 10_000,
      admin: this.admin,
      purpose: 'to create tenant roots',
    });
    try {
      const { maxZnodes, maxBytes } = tenant.limiter.limits;
      const result = await ensureTenantRoot(client, {
        root: tenant.chroot.root,
        identity: tenant.identity,
        admin: this.admin,
        quota: { maxZnodes, maxBytes },
      });
      if (result.aclCorrected) this.log.warn({ chroot: tenant.chroot.root }, 'tenant root had another ACL; corrected');
      this.log.info(
        { chroot: tenant.chroot.root, identity: tenant.identity.user, quota: { maxZnodes, maxBytes, change: result.quota } },
        'tenant root ready',
      );
      if (result.quota === 'unsupported') {
        this.log.warn(
          { chroot: tenant.chroot.root, quota: { maxZnodes, maxBytes } },
          'ensemble older than ZooKeeper 3.7 has no hard quotas: maxZnodes/maxBytes not enforced',
        );
      }
    } finally {
      await client.close();
    }
  }
}

/**
 * Whether an existing root's ACL is one the tenant could have set through the proxy: no entry for
 * the world or for another tenant's identity (either would open the tree to other tenants on the
 * ensemble), and the platform admin kept. Anything else the tenant chose, as ZooKeeper lets a
 * chroot's owner choose it, and stays; a root made by hand or by an older proxy is corrected.
 */
function isSafeRootAcl(acl: RecordValue[], spec: TenantRootSpec): boolean {
  const ids = acl.map((entry) => entry.id as { scheme: string; id: string });
  const opensToOthers = ids.some(
    ({ scheme, id }) => scheme === 'world' || (scheme === 'digest' && id.startsWith(TENANT_USER_PREFIX) && id !== spec.identity.id),
  );
  const adminKept =
    spec.admin === undefined || acl.some((entry) => entry.perms === Perms.ALL && (entry.id as { id: string }).id === spec.admin!.id);
  return !opensToOthers && adminKept;
}
