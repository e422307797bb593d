/**
 * A tenant's chroot on the shared ensemble: the only place where client paths become server
 * paths and back. Segment-boundary correct (`/tenants/a` never matches `/tenants/ab`), and
 * fail-closed: a server path outside the chroot is never handed to the client.
 */
import { DROP, ErrorCode, REJECT, Rejection, isSequential, validatePath, type PathMapper } from 'jute-ts';

/**
 * ZooKeeper's own subtree (/zookeeper/config, /zookeeper/quota) does not exist for a tenant: the
 * real one would reveal the ensemble's members (and let Curator's EnsembleTracker bypass the
 * proxy) and other tenants' quotas; a fake one inside the chroot could steer the tenant's own
 * clients. Reads answer NONODE, creates NOAUTH, and watch lists silently drop it.
 */
const RESERVED = '/zookeeper';
const RESERVED_READ = new Rejection(ErrorCode.NONODE, 'the /zookeeper subtree is not available to tenants');
const RESERVED_CREATE = new Rejection(ErrorCode.NOAUTH, 'the /zookeeper subtree is not available to tenants');
const WATCH_LISTS = new Set(['dataWatches', 'existWatches', 'childWatches', 'persistentWatches', 'persistentRecursiveWatches']);

export class Chroot {
  /** Server path of the tenant root, e.g. `/tenants/acme` (never `/`, never a trailing slash). */
  readonly root: string;
  private readonly rootSlash: string;
  /** Client path → server path, for every path field of a request. */
  readonly toServer: PathMapper;
  /** Server path → client path, for every path field of a reply or notification. */
  readonly toClient: PathMapper;

  constructor(root: string) {
    const problem = validatePath(root);
    if (problem !== undefined) throw new Error(`chroot ${JSON.stringify(root)}: ${problem}`);
    if (root === '/') throw new Error('chroot must not be / (a tenant would see every other tenant)');
    this.root = root;
    this.rootSlash = `${root}/`;
    this.toServer = (path, createFlags, field) => this.mapIn(path, createFlags, field);
    this.toClient = (path) => this.mapOut(path);
  }

  /** Whether `serverPath` is the tenant root or below it. */
  contains(serverPath: string): boolean {
    return serverPath === this.root || serverPath.startsWith(this.rootSlash);
  }

  /** Whether two chroots overlap (one is the other or an ancestor of it): tenants must never share a subtree. */
  overlaps(other: Chroot): boolean {
    return this.contains(other.root) || other.contains(this.root);
  }

  private mapIn(path: string | null, createFlags: number | undefined, field: string): string | typeof DROP | Rejection {
    if (field === 'prefixPath') {
      // getEphemerals filters by plain string prefix. Null, blank and "/" mean "all of mine";
      // anything else is prefixed as is. Results are filtered again on the way out.
      if (path === null || path.trim() === '' || path === '/') return this.rootSlash;
      return path.charCodeAt(0) === 0x2f ? this.root + path : REJECT;
    }
    const sequential = createFlags !== undefined && isSequential(createFlags);
    if (validatePath(path, sequential) !== undefined) return REJECT;
    if (path === RESERVED || path!.startsWith(`${RESERVED}/`)) {
      if (WATCH_LISTS.has(field)) return DROP;
      return createFlags === undefined ? RESERVED_READ : RESERVED_CREATE;
    }
    // A sequential create of "/" must produce /root/0000000001, not the sibling /root0000000001.
    if (path === '/') return sequential ? this.rootSlash : this.root;
    return this.root + path!;
  }

  private mapOut(path: string | null): string | null | typeof DROP {
    if (path === null) return null;
    if (path === this.root) return '/';
    if (path.startsWith(this.rootSlash)) return path.slice(this.root.length);
    return DROP;
  }
}
