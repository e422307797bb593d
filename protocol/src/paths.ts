/**
 * Path rewriting on encoded frames, driven by the `path` marks in the record table. Only the path
 * fields are decoded; everything else is copied byte for byte, lengths and counts patched. A frame
 * with nothing to change is returned as the same Buffer (no copy).
 */
import { encodeFieldToBuffer, lastMappedField, scanRecord, type PathSink } from './codec.ts';
import { ErrorCode } from './constants.ts';
import { CreateRequest } from './records.ts';
import { checkFrame, LENGTH_PREFIX, sealFrame } from './frames.ts';
import { JuteReader } from './jute.ts';
import { replyRecord, REPLY_HEADER_SIZE, REQUEST_HEADER_SIZE, requestRecord } from './packets.ts';
import type { FieldType, RecordDef, RecordValue } from './schema.ts';

const ACL_LIST = CreateRequest.fields.acl as FieldType;

/** Mapper verdict: remove this entry from its vector (a scalar path field cannot be dropped: rejects). */
export const DROP: unique symbol = Symbol('drop');

/** Mapper verdict: refuse the whole frame, suggesting the ZooKeeper error code to answer with. */
export class Rejection {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    this.code = code;
    this.reason = reason;
  }
}

/** The default rejection: an invalid path (ZooKeeper answers BADARGUMENTS). */
export const REJECT = new Rejection(ErrorCode.BADARGUMENTS, 'invalid path');

/**
 * Returns the new value of a path field (same string = unchanged), DROP or REJECT.
 * `createFlags` is the enclosing create's flags, for paths of create-family records.
 */
export type PathMapper = (
  path: string | null,
  createFlags: number | undefined,
  /** The record field it came from: `prefixPath` (getEphemerals) is a string prefix, not a path. */
  field: string,
) => string | null | typeof DROP | Rejection;

/** Returns the new ACL list (the same array = unchanged) or a Rejection. */
export type AclMapper = (acl: RecordValue[] | null) => RecordValue[] | null | Rejection;

export interface FieldMappers {
  path: PathMapper;
  /** When absent, ACL lists pass through untouched. */
  acl?: AclMapper;
}

export type MapContext =
  | { readonly direction: 'request' }
  /** `opcode`: of the request this reply answers (from a ConversationTracker); ignored for notifications. */
  | { readonly direction: 'reply'; readonly opcode: number | undefined };

const REQUEST_CONTEXT: MapContext = { direction: 'request' };
export function requestContext(): MapContext {
  return REQUEST_CONTEXT;
}

/**
 * Rewrites every path field of a request, reply or notification frame with `mapper`.
 * Returns the (possibly same) frame, or the Rejection a mapper returned. Throws ProtocolError
 * for malformed frames and unknown request opcodes.
 */
export function mapPaths(frame: Buffer, context: MapContext, mapper: PathMapper): Buffer | Rejection {
  return mapFields(frame, context, { path: mapper });
}

/** mapPaths, and ACL lists too (create, createTTL and setACL requests, getACL replies, multi ops). */
export function mapFields(frame: Buffer, context: MapContext, mappers: FieldMappers): Buffer | Rejection {
  let def: RecordDef | null;
  let bodyStart: number;
  if (context.direction === 'request') {
    checkFrame(frame, REQUEST_HEADER_SIZE, 'request');
    def = requestRecord(frame.readInt32BE(8));
    bodyStart = LENGTH_PREFIX + REQUEST_HEADER_SIZE;
  } else {
    checkFrame(frame, REPLY_HEADER_SIZE, 'reply');
    def = replyRecord(frame.readInt32BE(4), frame.readInt32BE(16), context.opcode);
    bodyStart = LENGTH_PREFIX + REPLY_HEADER_SIZE;
  }
  if (def === null || lastMappedField(def) < 0) return frame;

  const edits = new EditList(frame, mappers.path, mappers.acl);
  scanRecord(new JuteReader(frame, bodyStart), def, edits, false);
  if (edits.rejection !== undefined) return edits.rejection;
  return edits.apply();
}

// An edit replaces frame bytes [start, end) with a ustring, an int32 count, or nothing.
const EditKind = { string: 0, count: 1, remove: 2, none: 3, bytes: 4 } as const;
// Edits live in one flat array, EDIT_SLOTS entries each: start, end, kind, value, byteLength.
const EDIT_SLOTS = 5;

class EditList implements PathSink {
  rejection: Rejection | undefined;
  readonly acl: PathSink['acl'];
  private readonly frame: Buffer;
  private readonly mapper: PathMapper;
  private edits: (number | string | null | Buffer)[] | undefined;
  private dropsInVector = 0;

  constructor(frame: Buffer, mapper: PathMapper, aclMapper: AclMapper | undefined) {
    this.frame = frame;
    this.mapper = mapper;
    if (aclMapper !== undefined) {
      this.acl = (start, end, value) => {
        if (this.rejection !== undefined) return;
        const mapped = aclMapper(value);
        if (mapped === value) return;
        if (mapped instanceof Rejection) {
          this.rejection = mapped;
          return;
        }
        const bytes = encodeFieldToBuffer(ACL_LIST, mapped);
        this.push(start, end, EditKind.bytes, bytes, bytes.length);
      };
    }
  }

  path(start: number, end: number, value: string | null, inVector: boolean, createFlags: number | undefined, field: string): void {
    if (this.rejection !== undefined) return;
    const mapped = this.mapper(value, createFlags, field);
    if (mapped === value) return;
    if (mapped instanceof Rejection) {
      this.rejection = mapped;
      return;
    }
    if (mapped === DROP && !inVector) {
      this.rejection = new Rejection(ErrorCode.BADARGUMENTS, `${field} cannot be dropped`);
      return;
    }
    if (mapped === DROP) {
      this.dropsInVector++;
      this.push(start, end, EditKind.remove, null, 0);
      return;
    }
    this.push(start, end, EditKind.string, mapped, mapped === null ? 0 : Buffer.byteLength(mapped, 'utf8'));
  }

  vectorStart(countOffset: number, count: number): number {
    this.dropsInVector = 0;
    // Placeholder for a new count, filled in by vectorEnd when entries were dropped.
    this.push(countOffset, countOffset + 4, EditKind.none, count, 4);
    return this.edits!.length - EDIT_SLOTS;
  }

  vectorEnd(token: number): void {
    if (this.dropsInVector === 0) return;
    const edits = this.edits!;
    edits[token + 2] = EditKind.count;
    edits[token + 3] = (edits[token + 3] as number) - this.dropsInVector;
    this.dropsInVector = 0;
  }

  private push(start: number, end: number, kind: number, value: string | null | number | Buffer, byteLength: number): void {
    (this.edits ??= []).push(start, end, kind, value, byteLength);
  }

  apply(): Buffer {
    const { frame, edits } = this;
    if (edits === undefined) return frame;
    let size = frame.length;
    let changed = false;
    for (let i = 0; i < edits.length; i += EDIT_SLOTS) {
      const kind = edits[i + 2];
      if (kind === EditKind.none) continue;
      changed = true;
      if (kind === EditKind.string) size += 4 + (edits[i + 4] as number) - ((edits[i + 1] as number) - (edits[i] as number));
      else if (kind === EditKind.bytes) size += (edits[i + 4] as number) - ((edits[i + 1] as number) - (edits[i] as number));
      else if (kind === EditKind.remove) size -= (edits[i + 1] as number) - (edits[i] as number);
    }
    if (!changed) return frame;

    const out = Buffer.allocUnsafe(size);
    let src = 0;
    let dst = 0;
    for (let i = 0; i < edits.length; i += EDIT_SLOTS) {
      const kind = edits[i + 2];
      if (kind === EditKind.none) continue;
      dst += copyBytes(frame, src, edits[i] as number, out, dst);
      if (kind === EditKind.string) {
        const value = edits[i + 3] as string | null;
        if (value === null) {
          out.writeInt32BE(-1, dst);
          dst += 4;
        } else {
          out.writeInt32BE(edits[i + 4] as number, dst);
          dst += 4 + out.write(value, dst + 4, 'utf8');
        }
      } else if (kind === EditKind.count) {
        out.writeInt32BE(edits[i + 3] as number, dst);
        dst += 4;
      } else if (kind === EditKind.bytes) {
        dst += (edits[i + 3] as Buffer).copy(out, dst);
      }
      src = edits[i + 1] as number;
    }
    copyBytes(frame, src, frame.length, out, dst);
    return sealFrame(out);
  }
}

/** Copies [from, to) of `source` to `target` at `at`; a JS loop beats a native call for the short runs between paths. */
function copyBytes(source: Buffer, from: number, to: number, target: Buffer, at: number): number {
  const n = to - from;
  if (n > 64) return source.copy(target, at, from, to);
  for (let i = 0; i < n; i++) target[at + i] = source[from + i]!;
  return n;
}

/**
 * ZooKeeper's PathUtils.validatePath: the reason a client path is invalid, or undefined.
 * A sequential create may end with '/', since the server appends the sequence number.
 */
export function validatePath(path: string | null, sequential = false): string | undefined {
  if (path === null) return 'path must not be null';
  const checked = sequential ? `${path}1` : path;
  if (checked.length === 0) return 'path length must be > 0';
  if (checked.charCodeAt(0) !== 0x2f) return 'path must start with / character';
  if (checked.length === 1) return undefined;
  if (checked.charCodeAt(checked.length - 1) === 0x2f) return 'path must not end with / character';
  let previous = 0x2f;
  for (let i = 1; i < checked.length; i++) {
    const c = checked.charCodeAt(i);
    if (c === 0) return `null character not allowed @${i}`;
    if (c === 0x2f && previous === 0x2f) return `empty node name specified @${i}`;
    if (c === 0x2e && previous === 0x2f) {
      // "." and ".." components are relative paths.
      const next = i + 1 < checked.length ? checked.charCodeAt(i + 1) : 0x2f;
      const afterDots = next === 0x2e ? (i + 2 < checked.length ? checked.charCodeAt(i + 2) : 0x2f) : next;
      if (next === 0x2f || (next === 0x2e && afterDots === 0x2f)) return `relative paths not allowed @${i}`;
    }
    if ((c > 0 && c < 0x20) || (c > 0x7e && c < 0xa0) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
      return `invalid character @${i}`;
    }
    previous = c;
  }
  return undefined;
}
