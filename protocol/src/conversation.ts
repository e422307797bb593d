/**
 * Per-connection memory of requests in flight, so each reply can be decoded with the opcode of
 * the request it answers. The server answers in request order except auth and SASL, which
 * overtake; so lookup is by xid, starting at the oldest entry (almost always a hit at once).
 */
export interface PendingRequest<T> {
  readonly xid: number;
  readonly opcode: number;
  readonly data: T;
}

export class ConversationTracker<T = undefined> {
  private entries: PendingRequest<T>[] = [];
  private head = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Records a request sent; xid -1 never is a request, so it is ignored. */
  request(xid: number, opcode: number, data: T): void {
    if (xid === -1) return;
    this.entries.push({ xid, opcode, data });
  }

  /**
   * Removes and returns the request a reply with `xid` answers; undefined for notifications
   * (xid -1) and for replies nobody asked for.
   */
  reply(xid: number): PendingRequest<T> | undefined {
    if (xid === -1) return undefined;
    const { entries } = this;
    for (let i = this.head; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.xid !== xid) continue;
      if (i === this.head) this.advanceHead();
      else entries.splice(i, 1);
      return entry;
    }
    return undefined;
  }

  /** Removes and returns the oldest request still waiting. */
  shift(): PendingRequest<T> | undefined {
    const entry = this.entries[this.head];
    if (entry !== undefined) this.advanceHead();
    return entry;
  }

  /** The oldest request still waiting. */
  peek(): PendingRequest<T> | undefined {
    return this.entries[this.head];
  }

  /** Empties the tracker, returning what was still in flight (oldest first). */
  drain(): PendingRequest<T>[] {
    const rest = this.entries.slice(this.head);
    this.entries = [];
    this.head = 0;
    return rest;
  }

  private advanceHead(): void {
    this.head++;
    // Compact now and then so the array does not grow with the connection's lifetime.
    if (this.head === this.entries.length) {
      this.entries.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
