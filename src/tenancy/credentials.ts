/**
 * Everything secret about a tenant is derived from ONE platform secret shared by all proxy
 * replicas (and the controller), so replicas stay stateless: the tenant's digest identity on the
 * ensemble and the key that seals its session passwords.
 */
import { createHash, createHmac } from 'node:crypto';

/**
 * Every digest identity the proxy makes has a user name starting with this: tenants can neither
 * name one in an ACL (but their own tenant identity) nor authenticate as one.
 */
export const PROXY_USER_PREFIX = 'zkproxy-';
/** Digest users of tenants share this prefix, so a tenant cannot name another tenant in an ACL. */
export const TENANT_USER_PREFIX = `${PROXY_USER_PREFIX}tenant-`;
/**
 * A TLS client's x509 identity (its certificate's subject DN) as a digest user on the ensemble:
 * the DN is in the name (base64url, so getACL can show `x509:<DN>` again), the password is
 * derived from the platform secret, the tenant and the DN.
 */
export const X509_USER_PREFIX = `${PROXY_USER_PREFIX}x509-`;

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

/** The digest identity standing for the x509 identity `dn` inside `tenant` (see X509_USER_PREFIX). */
export function x509Identity(secret: Buffer, tenant: string, dn: string): DigestIdentity {
  return digestIdentity(
    `${X509_USER_PREFIX}${Buffer.from(dn, 'utf8').toString('base64url')}`,
    derive(secret, 'x509', `${tenant}\n${dn}`).toString('base64url'),
  );
}

/** The DN an x509 identity's digest user name stands for, or undefined for any other user name. */
export function dnOfX509User(user: string): string | undefined {
  if (!user.startsWith(X509_USER_PREFIX)) return undefined;
  const encoded = user.slice(X509_USER_PREFIX.length);
  return /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, 'base64url').toString('utf8') : undefined;
}

/**
 * The ACL id ZooKeeper's DigestAuthenticationProvider makes of an addAuth("digest", bytes):
 * `user:base64(sha1(bytes))`, where user is the text before the first ':' (the whole text
 * when it has none); the bytes are read as UTF-8, as the server's String(byte[]) does.
 */
export function digestIdOfAuth(auth: Buffer): string {
  const text = auth.toString('utf8');
  const colon = text.indexOf(':');
  const user = colon < 0 ? text : text.slice(0, colon);
  return `${user}:${createHash('sha1').update(text, 'utf8').digest('base64')}`;
}

/**
 * The key sealing a tenant's session passwords on one of its ensembles other than the home one:
 * a session made on another ensemble than the tenant's current one does not unseal, so its resume
 * is answered "expired" by the proxy (the new ensemble would only refuse it, without an answer,
 * because the client has seen zxids beyond its own). The home ensemble keeps the tenant's key.
 */
export function ensembleSealKey(secret: Buffer, tenant: string, ensemble: string): Buffer {
  return derive(secret, 'session-seal', `${tenant}/${ensemble}`).subarray(0, 16);
}

export function tenantSecrets(secret: Buffer, tenant: string): TenantSecrets {
  return {
    identity: digestIdentity(`${TENANT_USER_PREFIX}${tenant}`, derive(secret, 'digest', tenant).toString('base64url')),
    sealKey: derive(secret, 'session-seal', tenant).subarray(0, 16),
  };
}
