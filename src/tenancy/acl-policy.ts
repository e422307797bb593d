/**
 * ACLs on the wire. Two promises at once:
 *
 * 1. Inside a tenant, an ACL means what it means on ZooKeeper itself (with a client-side chroot).
 * 2. Between tenants, the ensemble enforces the boundary (defence in depth): nothing a tenant
 *    opens "to the world" is open to another tenant's sessions on the ensemble.
 *
 * Every backend session of a tenant authenticates as the tenant's own digest identity T. The
 * mapping of a client's ACL to the stored one:
 *
 * | client entry           | stored on the ensemble                                           |
 * |------------------------|------------------------------------------------------------------|
 * | `world:anyone` P       | `digest:T` P: every session of this tenant, no other tenant's      |
 * | `auth` P               | P for each identity the client authenticated with (x509, digests) |
 * |                        | (never T); none: an empty list, which ZooKeeper answers INVALIDACL |
 * | `digest:<id>` P        | as given; naming the admin or another proxy identity: refused      |
 * | `x509:<DN>` P          | P for the tenant's digest stand-in of that DN (see credentials)   |
 * | `ip:...`               | refused: behind a proxy the ensemble sees the proxy's address     |
 * | `super:...`            | refused                                                           |
 * | anything else          | as given: the ensemble validates it (unknown schemes: INVALIDACL) |
 *
 * and the platform admin with ALL is appended (hidden again on the way out), so the platform can
 * always remove a tenant's tree. T therefore holds exactly the permissions the tenant gave to the
 * world, plus the tenant root's; an entry naming only other identities gives T nothing, so a
 * session without those credentials gets NOAUTH from the ensemble, as it would directly.
 *
 * "Refused" is the proxy's INVALIDACL (for a multi: the whole multi), a policy of the proxy's own.
 * Where ZooKeeper itself answers INVALIDACL (empty lists, `auth` with no identity, malformed ids,
 * unknown schemes) the ensemble answers, in its own way and order (one create inside a multi gets
 * its per-operation result), because the list that goes out is invalid too. getACL maps back: `digest:T` is shown as
 * `world:anyone`, stand-ins as `x509:<DN>`, the admin not at all; ZooKeeper's masked form
 * (`user:x`, for callers without ADMIN on the node) is recognised too.
 */
import { ErrorCode, Perms, Rejection, type AclMapper, type RecordValue } from 'jute-ts';
import { dnOfX509User, PROXY_USER_PREFIX, type DigestIdentity } from './credentials.ts';
import type { AclId, ClientIdentities } from './client-identities.ts';

interface AclEntry {
  perms: number;
  id: AclId;
}

/** What goes out for an ACL ZooKeeper would refuse itself: an empty list, which it answers INVALIDACL. */
const INVALID_FOR_ZOOKEEPER: readonly AclEntry[] = Object.freeze([]);
const FOREIGN_IDENTITY = new Rejection(ErrorCode.INVALIDACL, 'the ACL names an identity of the platform or of another tenant');
const SUPER_SCHEME = new Rejection(ErrorCode.INVALIDACL, 'the ACL names the super scheme');
const IP_SCHEME = new Rejection(
  ErrorCode.INVALIDACL,
  "ip ACL entries cannot hold behind the proxy: the ensemble sees the proxy's address, not the client's",
);

const WORLD: AclId = Object.freeze({ scheme: 'world', id: 'anyone' });

/** A digest id as getACL shows it to a caller without ADMIN permission on the node. */
function masked(digestId: string): string {
  return digestId.replace(/:.*/, ':x');
}

function userOf(digestId: string): string {
  const colon = digestId.indexOf(':');
  return colon < 0 ? digestId : digestId.slice(0, colon);
}

export class AclPolicy {
  readonly toClient: AclMapper;
  private readonly tenantId: string;
  private readonly tenantIdMasked: string;
  private readonly hiddenIds: ReadonlySet<string>;
  private readonly hiddenIdsMasked: ReadonlySet<string>;
  private readonly platformEntries: readonly AclEntry[];
  private readonly x509IdentityOf: (dn: string) => DigestIdentity;

  /**
   * `hiddenIdentities`: the platform's digest ids (the admin): added to every ACL the tenant
   * sets, never shown to it, never nameable by it. `x509IdentityOf`: the tenant's stand-in for a DN.
   */
  constructor(tenant: DigestIdentity, hiddenIdentities: readonly string[], x509IdentityOf: (dn: string) => DigestIdentity) {
    this.tenantId = tenant.id;
    this.tenantIdMasked = masked(tenant.id);
    this.platformEntries = hiddenIdentities.map((id) => ({ perms: Perms.ALL, id: { scheme: 'digest', id } }));
    this.hiddenIds = new Set(hiddenIdentities);
    this.hiddenIdsMasked = new Set(hiddenIdentities.map(masked));
    this.x509IdentityOf = x509IdentityOf;
    this.toClient = (acl) => this.mapOut(acl as unknown as AclEntry[] | null);
  }

  /** The request-side mapper of one client connection (its identities expand `auth` entries). */
  toServerFor(identities: ClientIdentities): AclMapper {
    return (acl) => this.mapIn(acl as unknown as AclEntry[] | null, identities) as unknown as RecordValue[] | null | Rejection;
  }

  private mapIn(acl: AclEntry[] | null, identities: ClientIdentities): readonly AclEntry[] | null | Rejection {
    // ZooKeeper answers a missing or empty list INVALIDACL itself; nothing may make it valid.
    if (acl === null || acl.length === 0) return acl;
    const out: AclEntry[] = [];
    for (const entry of acl) {
      const scheme = entry.id?.scheme;
      const id = entry.id?.id;
      if (scheme === 'world' && id === 'anyone') {
        out.push({ perms: entry.perms, id: { scheme: 'digest', id: this.tenantId } });
      } else if (scheme === 'auth') {
        const own = identities.authenticated;
        if (own.length === 0) return INVALID_FOR_ZOOKEEPER;
        for (const identity of own) out.push({ perms: entry.perms, id: this.serverId(identity) });
      } else if (scheme === 'digest') {
        if (typeof id === 'string' && id !== this.tenantId && (userOf(id).startsWith(PROXY_USER_PREFIX) || this.hiddenIds.has(id))) {
          return FOREIGN_IDENTITY;
        }
        out.push(entry);
      } else if (scheme === 'x509' && typeof id === 'string') {
        out.push({ perms: entry.perms, id: this.serverId(entry.id) });
      } else if (scheme === 'ip') {
        return IP_SCHEME;
      } else if (scheme === 'super') {
        return SUPER_SCHEME;
      } else {
        out.push(entry);
      }
    }
    for (const entry of this.platformEntries) out.push(entry);
    return out;
  }

  /** How the ensemble names an identity of the client's. */
  private serverId(identity: AclId): AclId {
    return identity.scheme === 'x509' ? { scheme: 'digest', id: this.x509IdentityOf(identity.id).id } : identity;
  }

  /**
   * An entry of a whoAmI reply as the client may see it (undefined: not shown): the tenant
   * identity is the proxy's; the stand-in of the client's own x509 subject is that x509 identity.
   */
  shownClientInfo(
    scheme: string | null,
    user: string | null,
    x509Subject: string | undefined,
  ): { authScheme: string | null; user: string | null } | undefined {
    if (scheme !== 'digest' || user === null) return { authScheme: scheme, user };
    if (user === userOf(this.tenantId)) return undefined;
    if (x509Subject !== undefined && dnOfX509User(user) === x509Subject) return { authScheme: 'x509', user: x509Subject };
    return { authScheme: scheme, user };
  }

  private mapOut(acl: AclEntry[] | null): RecordValue[] | null {
    if (acl === null) return acl;
    let changed = false;
    const out: AclEntry[] = [];
    for (const entry of acl) {
      const shown = entry.id.scheme === 'digest' ? this.shownDigest(entry.id) : entry.id;
      if (shown !== entry.id) changed = true;
      if (shown !== undefined) out.push(shown === entry.id ? entry : { perms: entry.perms, id: shown });
    }
    return (changed ? out : acl) as unknown as RecordValue[];
  }

  /** What the client sees of a stored digest id: world:anyone, an x509 DN, nothing, or the id itself. */
  private shownDigest(stored: AclId): AclId | undefined {
    const { id } = stored;
    if (id === this.tenantId || id === this.tenantIdMasked) return WORLD;
    if (this.hiddenIds.has(id) || this.hiddenIdsMasked.has(id)) return undefined;
    const dn = dnOfX509User(userOf(id));
    return dn === undefined ? stored : { scheme: 'x509', id: dn };
  }
}
