/**
 * Framing: int32 big-endian length, then that many bytes. A "frame" everywhere in this package
 * means the whole thing, length prefix included, so a frame can be forwarded as is.
 */
import { ProtocolError } from './errors.ts';
import { JUTE_MAX_BUFFER } from './constants.ts';

/** jute.maxbuffer plus room for headers and the tenant prefix a proxy adds. */
export const DEFAULT_MAX_FRAME_SIZE = JUTE_MAX_BUFFER + 1024;

export const LENGTH_PREFIX = 4;

/**
 * Receives, piece by piece, frames the reader was told to stream rather than assemble (see
 * FrameReader.push).
 */
export interface FrameStream {
  /** Bytes of a frame's start handed to `begin`: the length prefix and a reply header (xid, zxid, err). */
  readonly headerBytes: number;
  /**
   * A frame longer than what is left of the chunk starts: `header` views its first `headerBytes`.
   * True to receive it as pieces instead of one assembled frame.
   */
  begin(header: Buffer): boolean;
  /** The next piece of the streamed frame (a view of the chunk, prefix included in the first); `last` when it ends. */
  piece(bytes: Buffer, last: boolean): void;
}

/**
 * Incremental frame splitter. Frames that arrive whole inside one chunk are handed out as views of
 * that chunk (no copy); a frame split across chunks is assembled once into a buffer of exactly its
 * size, allocated only after its length passed the maximum check.
 */
export class FrameReader {
  readonly maxFrameSize: number;
  private partial: Buffer | undefined; // frame being assembled (prefix included)
  private filled = 0;
  /** A length prefix split across chunks; allocated when that first happens (a reader per connection side, most never need it). */
  private prefix: Buffer | undefined;
  private prefixFilled = 0;
  /** Bytes still to come of a frame being streamed, and where they go. */
  private streamRemaining = 0;
  private streaming: FrameStream | undefined;

  constructor(maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE) {
    if (!Number.isInteger(maxFrameSize) || maxFrameSize < 0 || maxFrameSize > 0x7fffffff) {
      throw new ProtocolError('invalidValue', `maxFrameSize ${maxFrameSize} is not a non-negative int32`);
    }
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes received but not yet handed out as a frame. */
  get buffered(): number {
    return this.partial === undefined ? this.prefixFilled : this.filled;
  }

  /**
   * Feeds a chunk; calls `onFrame` for every complete frame, in order. Throws ProtocolError
   * (frameTooLarge / negativeLength) on a bad length; the stream is unusable after that.
   * With `stream`, a frame that does not arrive whole, but whose header does, may be handed on
   * piece by piece as it arrives instead of being assembled (no copy, no frame-sized buffer).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void, stream?: FrameStream): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.streamRemaining > 0) {
        const take = Math.min(this.streamRemaining, end - pos);
        this.streamRemaining -= take;
        this.streaming!.piece(chunk.subarray(pos, pos + take), this.streamRemaining === 0);
        pos += take;
        continue;
      }
      if (this.partial !== undefined) {
        const take = Math.min(this.partial.length - this.filled, end - pos);
        chunk.copy(this.partial, this.filled, pos, pos + take);
        this.filled += take;
        pos += take;
        if (this.filled === this.partial.length) {
          const frame = this.partial;
          this.partial = undefined;
          this.filled = 0;
          onFrame(frame);
        }
        continue;
      }
      if (this.prefixFilled === 0 && end - pos >= LENGTH_PREFIX) {
        const length = this.checkLength(chunk.readInt32BE(pos));
        const total = LENGTH_PREFIX + length;
        if (end - pos >= total) {
          onFrame(chunk.subarray(pos, pos + total));
          pos += total;
        } else if (
          stream !== undefined &&
          end - pos >= stream.headerBytes &&
          total >= stream.headerBytes &&
          stream.begin(chunk.subarray(pos, pos + stream.headerBytes))
        ) {
          this.streamRemaining = total;
          this.streaming = stream;
        } else {
          this.startPartial(length);
          chunk.copy(this.partial!, 0, pos, end);
          this.filled = end - pos;
          pos = end;
        }
        continue;
      }
      // Fewer than 4 bytes of a length prefix so far: collect them.
      const take = Math.min(LENGTH_PREFIX - this.prefixFilled, end - pos);
      const prefix = (this.prefix ??= Buffer.alloc(LENGTH_PREFIX));
      chunk.copy(prefix, this.prefixFilled, pos, pos + take);
      this.prefixFilled += take;
      pos += take;
      if (this.prefixFilled === LENGTH_PREFIX) {
        this.prefixFilled = 0;
        const length = this.checkLength(prefix.readInt32BE(0));
        this.startPartial(length);
        prefix.copy(this.partial!, 0);
        this.filled = LENGTH_PREFIX;
        if (length === 0) {
          const frame = this.partial!;
          this.partial = undefined;
          this.filled = 0;
          onFrame(frame);
        }
      }
    }
  }

  private checkLength(length: number): number {
    if (length < 0) throw new ProtocolError('negativeLength', `frame length ${length}`, { offset: 0, length });
    if (length > this.maxFrameSize) {
      throw new ProtocolError('frameTooLarge', `frame length ${length} exceeds the maximum ${this.maxFrameSize}`, { offset: 0, length });
    }
    return length;
  }

  private startPartial(length: number): void {
    this.partial = Buffer.allocUnsafe(LENGTH_PREFIX + length);
    this.filled = 0;
  }
}

/** Checks that `frame` is exactly one frame and returns its payload length. */
export function checkFrame(frame: Buffer, minPayload: number, what: string): number {
  if (frame.length < LENGTH_PREFIX) {
    throw new ProtocolError('truncated', `${what}: ${frame.length} bytes is shorter than a length prefix`, { offset: 0 });
  }
  const length = frame.readInt32BE(0);
  if (length !== frame.length - LENGTH_PREFIX) {
    throw new ProtocolError('frameLengthMismatch', `${what}: prefix says ${length} bytes, frame holds ${frame.length - LENGTH_PREFIX}`, {
      offset: 0,
      length,
    });
  }
  if (length < minPayload) {
    throw new ProtocolError('truncated', `${what}: ${length} payload bytes, at least ${minPayload} needed`, { offset: 0, length });
  }
  return length;
}

/** Writes the payload length into the first 4 bytes of a frame being built. */
export function sealFrame(frame: Buffer): Buffer {
  frame.writeInt32BE(frame.length - LENGTH_PREFIX, 0);
  return frame;
}
