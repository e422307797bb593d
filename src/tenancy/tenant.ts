/** A tenant as the proxy serves it: name, chroot, ensemble identity, session seal and ACL policy. */
import { defaultChroot, type Limits, type TenantConfig } from '../config/config.ts';
import { TenantLimiter } from '../limits/tenant-limiter.ts';
import { AclPolicy } from './acl-policy.ts';
import { Chroot } from './chroot.ts';
import { tenantSecrets, type DigestIdentity } from './credentials.ts';
import { SessionSeal } from './session-seal.ts';

export interface Tenant {
  readonly name: string;
  readonly chroot: Chroot;
  /** The digest identity every backend session of this tenant authenticates as. */
  readonly identity: DigestIdentity;
  readonly seal: SessionSeal;
  readonly acl: AclPolicy;
  /** This process's view of the tenant's limits: counters, token bucket, current limits. */
  readonly limiter: TenantLimiter;
}

export interface TenantContext {
  secret: Buffer;
  /** Identities tenants must neither see nor name (the platform admin). */
  hiddenIdentities: readonly string[];
  limits: Limits;
}

export function tenantFromConfig(config: TenantConfig, context: TenantContext): Tenant {
  const { identity, sealKey } = tenantSecrets(context.secret, config.name);
  return {
    name: config.name,
    chroot: new Chroot(config.chroot ?? defaultChroot(config.name)),
    identity,
    seal: new SessionSeal(sealKey),
    acl: new AclPolicy(identity, context.hiddenIdentities),
    limiter: new TenantLimiter(context.limits),
  };
}
