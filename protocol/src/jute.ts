/**
 * Bounds-checked jute primitives. The reader never trusts a length before comparing it with the
 * bytes actually left in the frame, and returns views (subarray) rather than copies, so decoding a
 * frame allocates at most in proportion to the frame itself.
 */
import { ProtocolError } from './errors.ts';

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

export class JuteReader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(bytes: number, what: string): void {
    if (this.end - this.pos < bytes) {
      throw new ProtocolError('truncated', `${what}: needs ${bytes} bytes at offset ${this.pos}, ${this.end - this.pos} left`, {
        offset: this.pos,
      });
    }
  }

  int(what = 'int'): number {
    this.need(4, what);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  long(what = 'long'): bigint {
    this.need(8, what);
    const value = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return value;
  }

  bool(what = 'bool'): boolean {
    this.need(1, what);
    // The Java reader treats any non-zero byte as true.
    return this.buf[this.pos++] !== 0;
  }

  /**
   * A length prefix for `what`: -1 is the null marker, anything else must be >= 0 and, counted in
   * units of at least `minUnit` bytes, fit in what is left of the frame.
   */
  length(what: string, minUnit = 1): number {
    const at = this.pos;
    const n = this.int(what);
    if (n === -1) return -1;
    if (n < -1) throw new ProtocolError('negativeLength', `${what}: length ${n} at offset ${at}`, { offset: at, length: n });
    if (n * minUnit > this.end - this.pos) {
      throw new ProtocolError('truncated', `${what}: length ${n} at offset ${at} exceeds the ${this.end - this.pos} bytes left`, {
        offset: at,
        length: n,
      });
    }
    return n;
  }

  buffer(what = 'buffer'): Buffer | null {
    const n = this.length(what);
    if (n === -1) return null;
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  ustring(what = 'ustring'): string | null {
    const n = this.length(what);
    if (n === -1) return null;
    const value = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return value;
  }

  /** Skips a length-prefixed field and returns its payload byte length (-1 for null). */
  skipSized(what: string): number {
    const n = this.length(what);
    if (n > 0) this.pos += n;
    return n;
  }

  rest(): Buffer {
    const view = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return view;
  }
}

export class JuteWriter {
  readonly buf: Buffer;
  pos: number;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }

  int(value: number, what = 'int'): void {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
      throw new ProtocolError('invalidValue', `${what}: ${String(value)} is not an int32`);
    }
    this.buf.writeInt32BE(value, this.pos);
    this.pos += 4;
  }

  long(value: bigint | number, what = 'long'): void {
    const big = toBigInt(value, what);
    this.buf.writeBigInt64BE(big, this.pos);
    this.pos += 8;
  }

  bool(value: boolean): void {
    this.buf[this.pos++] = value ? 1 : 0;
  }

  buffer(value: Uint8Array | null): void {
    if (value === null) {
      this.buf.writeInt32BE(-1, this.pos);
      this.pos += 4;
      return;
    }
    this.buf.writeInt32BE(value.length, this.pos);
    this.buf.set(value, this.pos + 4);
    this.pos += 4 + value.length;
  }

  ustring(value: string | null): void {
    if (value === null) {
      this.buf.writeInt32BE(-1, this.pos);
      this.pos += 4;
      return;
    }
    const written = this.buf.write(value, this.pos + 4, 'utf8');
    this.buf.writeInt32BE(written, this.pos);
    this.pos += 4 + written;
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

export function toBigInt(value: unknown, what: string): bigint {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else throw new ProtocolError('invalidValue', `${what}: ${String(value)} is not a 64-bit integer`);
  if (big < INT64_MIN || big > INT64_MAX) throw new ProtocolError('invalidValue', `${what}: ${big} is out of int64 range`);
  return big;
}
