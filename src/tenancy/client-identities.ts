/**
 * The identities one client connection has authenticated with, as ZooKeeper would hold them for
 * the same client connected directly: the x509 identity of its TLS certificate (set when the
 * connection is accepted) and each digest identity it added with addAuth, without repeats.
 * ZooKeeper expands an ACL entry of scheme `auth` into exactly these; the backend session also
 * carries the tenant's identity, which must never be part of that expansion.
 *
 * A digest addAuth always succeeds on the server (a failing one closes the connection before any
 * later request runs), so an identity counts from the moment its addAuth is forwarded: a create
 * pipelined right behind it is expanded with it, as the server would.
 */
import { digestIdOfAuth } from './credentials.ts';

export interface AclId {
  readonly scheme: string;
  readonly id: string;
}

export class ClientIdentities {
  private readonly ids: AclId[] = [];
  private ordered: readonly AclId[] | undefined = this.ids;

  constructor(x509Subject?: string) {
    if (x509Subject !== undefined) this.ids.push({ scheme: 'x509', id: x509Subject });
  }

  /** The client's authenticated identities in the order ZooKeeper expands `auth` entries. */
  get authenticated(): readonly AclId[] {
    return (this.ordered ??= inServerSetOrder(this.ids));
  }

  /** Records a forwarded addAuth("digest", auth); returns the id it stands for. */
  addDigest(auth: Buffer): AclId {
    const id = { scheme: 'digest', id: digestIdOfAuth(auth) };
    if (!this.ids.some((known) => known.scheme === id.scheme && known.id === id.id)) {
      this.ids.push(id);
      this.ordered = undefined;
    }
    return id;
  }
}

/**
 * ZooKeeper 3.5+ keeps a connection's identities in a ConcurrentHashMap key set (ServerCnxn), so
 * `auth` expands in that set's iteration order: by hash bin (jute's Id.hashCode, spread as the
 * map does), then by insertion within a bin. The set also holds the connection's `ip` identity,
 * which counts for the table size (16 bins, doubled from 12 entries on). Exact up to 11 client
 * identities; beyond that a resize may reorder entries within a bin.
 */
function inServerSetOrder(ids: readonly AclId[]): readonly AclId[] {
  const entries = ids.length + 1;
  let bins = 16;
  while (entries >= bins * 0.75) bins *= 2;
  const bin = (id: AclId) => {
    const hash = Math.imul(37, Math.imul(37, 17) + javaStringHash(id.scheme)) + javaStringHash(id.id);
    return (hash ^ (hash >>> 16)) & 0x7fffffff & (bins - 1);
  };
  return ids
    .map((id, index) => ({ id, index, bin: bin(id) }))
    .sort((a, b) => a.bin - b.bin || a.index - b.index)
    .map((entry) => entry.id);
}

function javaStringHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return hash;
}
