/**
 * Everything one incoming chunk produces for the other side, sent with as few write() calls as
 * possible: Node's per-write() cost (write requests, stream bookkeeping) is a large share of the
 * proxy's CPU per request. Frames passed through unchanged are views into the chunk just read, and
 * adjacent ones are merged into a single view: a chunk of 64 getData replies goes out as one
 * subarray, copied by nobody. Small rewritten frames are gathered into one buffer.
 */
import type { Socket } from 'node:net';

/** Above this, gathering into one buffer would copy more than a few write() calls cost. */
const GATHER_LIMIT = 64 * 1024;

export class WriteBatch {
  private readonly parts: Buffer[] = [];
  private bytes = 0;
  /** The run of adjacent views being extended: its buffer, start and end offsets. */
  private runArray: ArrayBufferLike | undefined;
  private runStart = 0;
  private runEnd = 0;
  private runFirst: Buffer | undefined;

  get empty(): boolean {
    return this.parts.length === 0 && this.runArray === undefined;
  }

  add(frame: Buffer): void {
    this.bytes += frame.length;
    if (this.runArray === frame.buffer && this.runEnd === frame.byteOffset) {
      this.runEnd += frame.length;
      return;
    }
    this.closeRun();
    this.runArray = frame.buffer;
    this.runStart = frame.byteOffset;
    this.runEnd = frame.byteOffset + frame.length;
    this.runFirst = frame;
  }

  /** Writes what was gathered; returns socket.write()'s verdict (false: wait for 'drain'). */
  flush(socket: Socket): boolean {
    this.closeRun();
    const { parts } = this;
    let writable = true;
    if (parts.length === 1) writable = socket.write(parts[0]!);
    else if (parts.length > 1) {
      if (this.bytes <= GATHER_LIMIT) writable = socket.write(Buffer.concat(parts, this.bytes));
      else {
        socket.cork();
        for (const part of parts) writable = socket.write(part);
        socket.uncork();
      }
    }
    parts.length = 0;
    this.bytes = 0;
    return writable;
  }

  private closeRun(): void {
    if (this.runArray === undefined) return;
    const first = this.runFirst!;
    const length = this.runEnd - this.runStart;
    // A run of one frame is that frame; a longer run is one view over all of them.
    this.parts.push(length === first.length ? first : Buffer.from(this.runArray, this.runStart, length));
    this.runArray = undefined;
    this.runFirst = undefined;
  }
}
