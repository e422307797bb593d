/**
 * Everything secret about a tenant is derived from ONE platform secret shared by all proxy
 * replicas (and the controller), so replicas stay stateless: the tenant's digest identity on the
 * ensemble and the key that seals its session passwords.
 */
import { createHash, createHmac } from 'node:crypto';

/** Digest users of tenants share this prefix, so a tenant cannot name another tenant in an ACL. */
export const TENANT_USER_PREFIX = 'zkproxy-tenant-';

export interface DigestIdentity {
  user: string;
  password: string;
  /** The ACL id ZooKeeper stores: user:base64(sha1(user:password)). */
  id: string;
}

export function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

export function digestIdentity(user: string, password: string): DigestIdentity {
  return { user, password, id: digestId(user, password) };
}

function derive(secret: Buffer, purpose: string, tenant: string): Buffer {
  return createHmac('sha256', secret).update(`zookeeper-proxy/${purpose}/${tenant}`).digest();
}

export interface TenantSecrets {
  /** The identity the proxy authenticates as on the tenant's behalf; the tenant root's ACL names it. */
  identity: DigestIdentity;
  /** AES-128 key sealing the tenant's session passwords. */
  sealKey: Buffer;
}

export function tenantSecrets(secret: Buffer, tenant: string): TenantSecrets {
  return {
    identity: digestIdentity(`${TENANT_USER_PREFIX}${tenant}`, derive(secret, 'digest', tenant).toString('base64url')),
    sealKey: derive(secret, 'session-seal', tenant).subarray(0, 16),
  };
}
