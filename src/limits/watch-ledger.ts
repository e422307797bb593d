/**
 * The watches one connection holds on the ensemble, keyed as ZooKeeper keys them (server path and
 * table), so the tenant's count follows reality: it rises when a request registers a watch, falls
 * when a one-shot watch fires, when watches are removed, and when the connection closes.
 * Registration is counted when the request is sent and undone if the reply says it did not happen.
 */
import { ErrorCode, EventType, OpCode, WatcherType } from 'jute-ts';

// ZooKeeper keeps data/exist watches and child watches in separate tables, persistent and
// recursive ones in their own modes.
const DATA = 'd';
const CHILD = 'c';
const PERSISTENT = 'p';
const RECURSIVE = 'r';

/**
 * How a request changes the connection's watches on the ensemble (the opcode table in
 * session/op-policy.ts names one per opcode):
 * - `data-flag` / `child-flag`: one watch on `path` in that table when the trailing `watch` boolean is set;
 * - `add`: a persistent or recursive watch on `path` (the trailing `mode`);
 * - `replay`: every path listed in the setWatches lists, each in its list's table;
 * - `remove`: removeWatches/checkWatches of `path` and the trailing watcher `type`.
 */
export type WatchEffect = 'none' | 'data-flag' | 'child-flag' | 'add' | 'replay' | 'remove';

/** The table of each setWatches/setWatches2 list. */
const REPLAY_TABLES: Readonly<Record<string, string>> = {
  dataWatches: DATA,
  existWatches: DATA,
  childWatches: CHILD,
  persistentWatches: PERSISTENT,
  persistentRecursiveWatches: RECURSIVE,
};

/**
 * The server paths of one request's path fields, as the path mapper produced them: field name and
 * path, flat (`[field, path, field, path, ...]`), so watch accounting needs no second decode.
 */
export type MappedPaths = readonly string[];

export class WatchLedger {
  /** Made on first use: most connections never hold a watch. */
  private keySet: Set<string> | undefined;
  private readonly onCountChange: (delta: number) => void;

  constructor(onCountChange: (delta: number) => void) {
    this.onCountChange = onCountChange;
  }

  get size(): number {
    return this.keySet?.size ?? 0;
  }

  private get keys(): Set<string> {
    return (this.keySet ??= new Set());
  }

  /**
   * Whether a request with this effect (already mapped to server paths) can change this ledger,
   * so that its paths are worth collecting. exists/getData/getChildren(2) end with their watch
   * flag (checked against the codec in op-policy.ts): most set none.
   */
  concerns(effect: WatchEffect, serverFrame: Buffer): boolean {
    switch (effect) {
      case 'none':
        return false;
      case 'data-flag':
      case 'child-flag':
        return serverFrame[serverFrame.length - 1] !== 0;
      case 'remove':
        return this.size > 0;
      default:
        return true;
    }
  }

  /** The watch keys a registering request would add that are not held yet. */
  wouldAdd(effect: WatchEffect, serverFrame: Buffer, paths: MappedPaths): string[] {
    const candidates: string[] = [];
    switch (effect) {
      case 'data-flag':
        candidates.push(DATA + paths[1]);
        break;
      case 'child-flag':
        candidates.push(CHILD + paths[1]);
        break;
      case 'add':
        candidates.push((serverFrame.readInt32BE(serverFrame.length - 4) === 1 ? RECURSIVE : PERSISTENT) + paths[1]);
        break;
      case 'replay':
        for (let i = 0; i < paths.length; i += 2) {
          const table = REPLAY_TABLES[paths[i]!];
          if (table !== undefined) candidates.push(table + paths[i + 1]);
        }
        break;
      default:
        return [];
    }
    return [...new Set(candidates)].filter((key) => this.keySet?.has(key) !== true);
  }

  /** What a removeWatches/checkWatches (effect `remove`) removes once it succeeds. */
  removal(serverFrame: Buffer, paths: MappedPaths): { type: number; serverPath: string } {
    return { type: serverFrame.readInt32BE(serverFrame.length - 4), serverPath: paths[1]! };
  }

  add(keys: readonly string[]): void {
    let added = 0;
    for (const key of keys) if (!this.keys.has(key)) this.keys.add(key), added++;
    if (added > 0) this.onCountChange(added);
  }

  /** The reply to a registering request: undo what did not happen (exists sets a watch even on NONODE). */
  settle(opcode: number, err: number, keys: readonly string[]): void {
    const registered = err === ErrorCode.OK || (opcode === OpCode.exists && err === ErrorCode.NONODE);
    if (!registered) this.remove(keys);
  }

  /** A notification on `serverPath`: one-shot watches it consumed are gone. */
  fired(eventType: number, serverPath: string): void {
    switch (eventType) {
      case EventType.NodeCreated:
      case EventType.NodeDataChanged:
        this.remove([DATA + serverPath]);
        break;
      case EventType.NodeDeleted:
        this.remove([DATA + serverPath, CHILD + serverPath]);
        break;
      case EventType.NodeChildrenChanged:
        this.remove([CHILD + serverPath]);
        break;
    }
  }

  /** A successful removeWatches/checkWatches of `type` on `serverPath`. */
  removed(type: number, serverPath: string): void {
    const tables =
      type === WatcherType.Children
        ? [CHILD]
        : type === WatcherType.Data
          ? [DATA]
          : type === WatcherType.Persistent
            ? [PERSISTENT]
            : type === WatcherType.PersistentRecursive
              ? [RECURSIVE]
              : [DATA, CHILD, PERSISTENT, RECURSIVE];
    this.remove(tables.map((table) => table + serverPath));
  }

  /** The connection is gone: the ensemble dropped all its watches. */
  clear(): void {
    if (this.size > 0) this.onCountChange(-this.size);
    this.keySet = undefined;
  }

  private remove(keys: readonly string[]): void {
    let removed = 0;
    for (const key of keys) if (this.keySet?.delete(key) === true) removed++;
    if (removed > 0) this.onCountChange(-removed);
  }
}
