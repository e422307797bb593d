/**
 * The watches one connection holds on the ensemble, keyed as ZooKeeper keys them (server path and
 * table), so the tenant's count follows reality: it rises when a request registers a watch, falls
 * when a one-shot watch fires, when watches are removed, and when the connection closes.
 * Registration is counted when the request is sent and undone if the reply says it did not happen.
 */
import { decodeRequest, ErrorCode, EventType, OpCode, WatcherType, type RecordValue } from 'jute-ts';

// ZooKeeper keeps data/exist watches and child watches in separate tables, persistent and
// recursive ones in their own modes.
const DATA = 'd';
const CHILD = 'c';
const PERSISTENT = 'p';
const RECURSIVE = 'r';

/** Opcodes whose request may register watches. */
const WATCHING = new Set<number>([OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2, OpCode.addWatch, OpCode.setWatches, OpCode.setWatches2]);

export class WatchLedger {
  private readonly keys = new Set<string>();
  private readonly onCountChange: (delta: number) => void;

  constructor(onCountChange: (delta: number) => void) {
    this.onCountChange = onCountChange;
  }

  get size(): number {
    return this.keys.size;
  }

  /**
   * The watch keys a request (already mapped to server paths) would add, not held yet; empty for
   * requests that register none. Cheap for the common case: only watch-capable opcodes are decoded.
   */
  wouldAdd(opcode: number, serverFrame: Buffer): string[] {
    if (!WATCHING.has(opcode)) return [];
    // exists/getData/getChildren(2): the watch flag is the last byte; most requests set none.
    if (opcode !== OpCode.addWatch && opcode !== OpCode.setWatches && opcode !== OpCode.setWatches2 && serverFrame[serverFrame.length - 1] === 0) return [];
    const body = decodeRequest(serverFrame).body as RecordValue;
    const candidates: string[] = [];
    switch (opcode) {
      case OpCode.exists:
      case OpCode.getData:
        if (body.watch === true) candidates.push(DATA + body.path);
        break;
      case OpCode.getChildren:
      case OpCode.getChildren2:
        if (body.watch === true) candidates.push(CHILD + body.path);
        break;
      case OpCode.addWatch:
        candidates.push((body.mode === 1 ? RECURSIVE : PERSISTENT) + body.path);
        break;
      default: {
        const list = (name: string) => ((body[name] as string[] | null) ?? []);
        for (const p of [...list('dataWatches'), ...list('existWatches')]) candidates.push(DATA + p);
        for (const p of list('childWatches')) candidates.push(CHILD + p);
        for (const p of list('persistentWatches')) candidates.push(PERSISTENT + p);
        for (const p of list('persistentRecursiveWatches')) candidates.push(RECURSIVE + p);
      }
    }
    return [...new Set(candidates)].filter((key) => !this.keys.has(key));
  }

  add(keys: readonly string[]): void {
    let added = 0;
    for (const key of keys) if (!this.keys.has(key)) (this.keys.add(key), added++);
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
      type === WatcherType.Children ? [CHILD] : type === WatcherType.Data ? [DATA] : type === WatcherType.Persistent ? [PERSISTENT] : type === WatcherType.PersistentRecursive ? [RECURSIVE] : [DATA, CHILD, PERSISTENT, RECURSIVE];
    this.remove(tables.map((table) => table + serverPath));
  }

  /** The connection is gone: the ensemble dropped all its watches. */
  clear(): void {
    if (this.keys.size > 0) this.onCountChange(-this.keys.size);
    this.keys.clear();
  }

  private remove(keys: readonly string[]): void {
    let removed = 0;
    for (const key of keys) if (this.keys.delete(key)) removed++;
    if (removed > 0) this.onCountChange(-removed);
  }
}
