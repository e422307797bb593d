/**
 * ACLs on the wire, so that the ensemble itself enforces tenant boundaries (defence in depth):
 * `world:anyone` entries a tenant sets become the tenant's own digest identity on the ensemble,
 * and come back as `world:anyone` when read. A tenant may not name another tenant's identity,
 * and never sees the platform's admin identity.
 *
 * getACL by a caller without ADMIN on the node shows digest ids with the password hash masked
 * (ZooKeeper's FinalRequestProcessor: `id.replaceAll(":.*", ":x")`), e.g. after a tenant made a
 * node read-only for everyone; the masked forms are recognised too.
 */
import { ErrorCode, Perms, Rejection, type AclMapper, type RecordValue } from 'jute-ts';
import { TENANT_USER_PREFIX, type DigestIdentity } from './credentials.ts';

interface AclEntry {
  perms: number;
  id: { scheme: string; id: string };
}

const FOREIGN_IDENTITY = new Rejection(ErrorCode.INVALIDACL, 'ACL names another tenant or the platform');

/** A digest id as getACL shows it to a caller without ADMIN permission on the node. */
function masked(digestId: string): string {
  return digestId.replace(/:.*/, ':x');
}

export class AclPolicy {
  readonly toServer: AclMapper;
  readonly toClient: AclMapper;
  private readonly tenantId: string;
  private readonly hiddenIds: ReadonlySet<string>;
  /** The tenant's id and the hidden ids as a getACL without ADMIN permission shows them. */
  private readonly tenantIdMasked: string;
  private readonly hiddenIdsMasked: ReadonlySet<string>;
  private readonly platformEntries: readonly AclEntry[];

  /** `hiddenIdentities`: the platform's digest ids: added to every ACL the tenant sets, never shown to it, never nameable by it. */
  constructor(tenant: DigestIdentity, hiddenIdentities: readonly string[]) {
    this.tenantId = tenant.id;
    this.platformEntries = hiddenIdentities.map((id) => ({ perms: Perms.ALL, id: { scheme: 'digest', id } }));
    this.hiddenIds = new Set(hiddenIdentities);
    this.tenantIdMasked = masked(tenant.id);
    this.hiddenIdsMasked = new Set(hiddenIdentities.map(masked));
    this.toServer = (acl) => this.mapIn(acl as unknown as AclEntry[] | null);
    this.toClient = (acl) => this.mapOut(acl as unknown as AclEntry[] | null);
  }

  private mapIn(acl: AclEntry[] | null): RecordValue[] | null | Rejection {
    if (acl === null) return acl;
    // The platform keeps full access to every tenant node (a tenant's setACL on "/" must not lock
    // it out); getACL hides these entries again.
    let changed = this.platformEntries.length > 0;
    const out = acl.map((entry) => {
      const { scheme, id } = entry.id ?? {};
      if (scheme === 'world' && id === 'anyone') {
        changed = true;
        return { perms: entry.perms, id: { scheme: 'digest', id: this.tenantId } };
      }
      if (scheme === 'digest' && typeof id === 'string' && id !== this.tenantId && (id.startsWith(TENANT_USER_PREFIX) || this.hiddenIds.has(id))) {
        return FOREIGN_IDENTITY;
      }
      if (scheme === 'super') return FOREIGN_IDENTITY;
      return entry;
    });
    const rejected = out.find((entry): entry is Rejection => entry instanceof Rejection);
    if (rejected) return rejected;
    return changed ? ([...out, ...this.platformEntries] as unknown as RecordValue[]) : (acl as unknown as RecordValue[]);
  }

  private mapOut(acl: AclEntry[] | null): RecordValue[] | null {
    if (acl === null) return acl;
    let changed = false;
    const out: AclEntry[] = [];
    for (const entry of acl) {
      if (entry.id.scheme === 'digest' && (entry.id.id === this.tenantId || entry.id.id === this.tenantIdMasked)) {
        changed = true;
        out.push({ perms: entry.perms, id: { scheme: 'world', id: 'anyone' } });
      } else if (entry.id.scheme === 'digest' && (this.hiddenIds.has(entry.id.id) || this.hiddenIdsMasked.has(entry.id.id))) {
        changed = true;
      } else out.push(entry);
    }
    return (changed ? out : acl) as unknown as RecordValue[];
  }
}
