/** A tenant as the proxy serves it: name, chroot, ensemble identity, session seal and ACL policy. */
import type { Limits } from '../limits/limits.ts';
import { TenantLimiter } from '../limits/tenant-limiter.ts';
import { AclPolicy } from './acl-policy.ts';
import { Chroot } from './chroot.ts';
import { MoveHold } from './move-hold.ts';
import { ensembleSealKey, tenantSecrets, x509Identity, type DigestIdentity } from './credentials.ts';
import { SessionSeal } from './session-seal.ts';

export interface Tenant {
  readonly name: string;
  readonly chroot: Chroot;
  /** The digest identity every backend session of this tenant authenticates as. */
  readonly identity: DigestIdentity;
  /** Seals the passwords of the tenant's sessions on the home ensemble. */
  readonly seal: SessionSeal;
  /** The seal of sessions on the named ensemble; undefined: the home ensemble (`seal`). */
  readonly sealOn: (ensemble: string | undefined) => SessionSeal;
  readonly acl: AclPolicy;
  /** The digest identity standing for a TLS client's x509 identity (its certificate's subject DN). */
  readonly x509IdentityOf: (dn: string) => DigestIdentity;
  /** This process's view of the tenant's limits: counters, token bucket, current limits. */
  readonly limiter: TenantLimiter;
  /** Whether a move's cut-over holds the tenant's requests now (this process's view). */
  readonly hold: MoveHold;
}

export interface TenantContext {
  secret: Buffer;
  /** Identities tenants must neither see nor name (the platform admin). */
  hiddenIdentities: readonly string[];
  limits: Limits;
}

/** What the configuration says about a tenant, resolved (the chroot defaulted). */
export interface TenantSpec {
  readonly name: string;
  /** Server path of the tenant root. */
  readonly chroot: string;
}

export function tenantFromConfig(config: TenantSpec, context: TenantContext): Tenant {
  const { identity, sealKey } = tenantSecrets(context.secret, config.name);
  const x509IdentityOf = x509IdentityCache(context.secret, config.name);
  const seal = new SessionSeal(sealKey);
  const seals = new Map<string, SessionSeal>();
  const sealOn = (ensemble: string | undefined) => {
    if (ensemble === undefined) return seal;
    let other = seals.get(ensemble);
    if (other === undefined) seals.set(ensemble, (other = new SessionSeal(ensembleSealKey(context.secret, config.name, ensemble))));
    return other;
  };
  return {
    name: config.name,
    chroot: new Chroot(config.chroot),
    identity,
    seal,
    sealOn,
    acl: new AclPolicy(identity, context.hiddenIdentities, x509IdentityOf),
    x509IdentityOf,
    limiter: new TenantLimiter(context.limits),
    hold: new MoveHold(),
  };
}

/** Stand-ins are derived (HMAC, SHA-1) per DN; a tenant names few DNs, so they are kept. */
function x509IdentityCache(secret: Buffer, tenant: string): (dn: string) => DigestIdentity {
  const known = new Map<string, DigestIdentity>();
  return (dn) => {
    let identity = known.get(dn);
    if (identity === undefined) {
      identity = x509Identity(secret, tenant, dn);
      if (known.size >= 1024) known.clear();
      known.set(dn, identity);
    }
    return identity;
  };
}
