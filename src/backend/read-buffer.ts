/**
 * Reads from an ensemble member land in a buffer of the connection's own, reused from read to
 * read (`net.Socket` `onread`), instead of the fresh 64 KB allocation (then an nread-sized copy,
 * an ArrayBuffer and a Buffer) Node makes for every 'data' chunk. Frames are parsed in place.
 *
 * The chunk handed to `onData` is only valid until it returns: what must outlive it is copied
 * (FrameReader's assembled frames, held frames). The one exception is a write to the client:
 * socket.write() keeps a reference to the bytes it could not send at once, so the owner calls
 * `lend()` when a write of this chunk is still pending, and the next read goes to a new buffer.
 */

/** An idle connection only ever reads pings and small replies: it should not pin 64 KB. */
const INITIAL_BYTES = 512;
/**
 * Four times Node's own read size: a large reply streamed to the client goes out in as many
 * writes as it took reads, and a 500 KB getData read 64 KB at a time took eight of each.
 */
const MAX_BYTES = 256 * 1024;
/** After this many reads in a row that used less than an eighth of it, a grown buffer halves. */
const SHRINK_AFTER = 16;

type ChunkHandler = (chunk: Buffer) => void;

const ignore: ChunkHandler = () => {};

export class ReadBuffer {
  /** Receives each read; replaced when the connection changes hands (handshake → session). */
  onData: ChunkHandler = ignore;
  private buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private filled = false;
  private lent = false;
  private smallReads = 0;
  /** For `net.connect({onread})`: Node asks for the buffer of each next read after the callback. */
  readonly onread = {
    buffer: (): Buffer => this.next(),
    callback: (bytes: number): boolean => {
      this.filled = bytes === this.buffer.length;
      this.smallReads = bytes < this.buffer.length >>> 3 ? this.smallReads + 1 : 0;
      this.onData(this.buffer.subarray(0, bytes));
      return true;
    },
  };

  /** The chunk just delivered is still referenced (a pending client write): it must not be read into again. */
  lend(): void {
    this.lent = true;
  }

  private next(): Buffer {
    // A read that filled the buffer says more was waiting: double it; a long run of small reads
    // (the large replies are over) gives the memory back.
    let size = this.buffer.length;
    if (this.filled && size < MAX_BYTES) size *= 2;
    else if (this.smallReads >= SHRINK_AFTER && size > INITIAL_BYTES) {
      size >>>= 1;
      this.smallReads = 0;
    }
    if (this.lent || size !== this.buffer.length) {
      this.buffer = Buffer.allocUnsafe(size);
      this.lent = false;
    }
    this.filled = false;
    return this.buffer;
  }
}
