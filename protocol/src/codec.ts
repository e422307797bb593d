/**
 * Generic interpreters over the record table: decode, size, encode, and a skip-only scan that
 * reports where path fields sit (for mapPaths). No per-record code lives anywhere else.
 */
import { ProtocolError } from './errors.ts';
import { type JuteReader, JuteWriter, toBigInt } from './jute.ts';
import { opcodeInfo } from './opcodes.ts';
import { ErrorResponse } from './records.ts';
import type { FieldType, MultiEntry, MultiValue, RecordDef, RecordValue } from './schema.ts';

// ---------------------------------------------------------------- multi entries

/** The record that follows a MultiHeader of `type`; null when that entry has no body. */
export function multiEntryRecord(type: number, direction: 'request' | 'response', offset?: number): RecordDef | null {
  if (direction === 'response' && type === -1) return ErrorResponse;
  const info = opcodeInfo(type);
  if (info?.subOp === undefined) {
    throw new ProtocolError('unknownMultiOp', `multi ${direction} entry has op type ${type}, which cannot appear in multi`, {
      ...(offset === undefined ? {} : { offset }),
    });
  }
  return direction === 'request' ? info.request : info.response;
}

// ---------------------------------------------------------------- decode

export function decodeRecord(r: JuteReader, def: RecordDef): RecordValue {
  const value: RecordValue = {};
  for (const [name, type] of def.entries) value[name] = decodeField(r, type, name);
  return value;
}

function decodeField(r: JuteReader, type: FieldType, name: string): unknown {
  switch (type.kind) {
    case 'int':
      return r.int(name);
    case 'long':
      return r.long(name);
    case 'bool':
      return r.bool(name);
    case 'buffer':
      return r.buffer(name);
    case 'ustring':
      return r.ustring(name);
    case 'optionalBool':
      return r.remaining > 0 ? r.bool(name) : undefined;
    case 'record':
      return decodeRecord(r, type.record);
    case 'vector': {
      const count = r.length(name, minSize(type.of));
      if (count === -1) return null;
      const items: unknown[] = new Array(count);
      for (let i = 0; i < count; i++) items[i] = decodeField(r, type.of, name);
      return items;
    }
    case 'multi':
      return decodeMulti(r, type.direction);
  }
}

function decodeMulti(r: JuteReader, direction: 'request' | 'response'): MultiValue {
  const entries: MultiEntry[] = [];
  // Each entry consumes at least the 9-byte header, so a hostile frame ends in 'truncated'.
  for (;;) {
    const at = r.pos;
    const header = { type: r.int('multi type'), done: r.bool('multi done'), err: r.int('multi err') };
    if (header.done) {
      entries.push({ header, body: undefined });
      return { entries };
    }
    const def = multiEntryRecord(header.type, direction, at);
    entries.push({ header, body: def === null ? undefined : decodeRecord(r, def) });
  }
}

// ---------------------------------------------------------------- size and encode

const minSizes = new WeakMap<object, number>();

/** Smallest encoding of a value of `type`; used to bound vector counts before allocating. */
export function minSize(type: FieldType): number {
  switch (type.kind) {
    case 'bool':
      return 1;
    case 'optionalBool':
      return 0;
    case 'int':
    case 'buffer':
    case 'ustring':
    case 'vector':
      return 4;
    case 'long':
      return 8;
    case 'multi':
      return 9;
    case 'record': {
      const cached = minSizes.get(type.record);
      if (cached !== undefined) return cached;
      let total = 0;
      for (const [, fieldType] of type.record.entries) total += minSize(fieldType);
      minSizes.set(type.record, total);
      return total;
    }
  }
}

function invalid(name: string, expected: string, value: unknown): never {
  throw new ProtocolError(
    'invalidValue',
    `${name}: expected ${expected}, got ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
  );
}

function field(value: RecordValue, name: string, def: RecordDef): unknown {
  if (typeof value !== 'object' || value === null) invalid(def.name, 'a record object', value);
  return value[name];
}

export function sizeRecord(def: RecordDef, value: RecordValue): number {
  let total = 0;
  for (const [name, type] of def.entries) total += sizeField(type, field(value, name, def), name);
  return total;
}

function sizeField(type: FieldType, value: unknown, name: string): number {
  switch (type.kind) {
    case 'int':
      return 4;
    case 'long':
      return 8;
    case 'bool':
      return 1;
    case 'optionalBool':
      return value === undefined ? 0 : 1;
    case 'buffer':
      if (value === null) return 4;
      if (!(value instanceof Uint8Array)) invalid(name, 'a Buffer or null', value);
      return 4 + value.length;
    case 'ustring':
      if (value === null) return 4;
      if (typeof value !== 'string') invalid(name, 'a string or null', value);
      return 4 + Buffer.byteLength(value, 'utf8');
    case 'record':
      return sizeRecord(type.record, value as RecordValue);
    case 'vector': {
      if (value === null) return 4;
      if (!Array.isArray(value)) invalid(name, 'an array or null', value);
      let total = 4;
      for (const item of value) total += sizeField(type.of, item, name);
      return total;
    }
    case 'multi': {
      const entries = (value as MultiValue | undefined)?.entries;
      if (!Array.isArray(entries)) invalid(name, 'a multi value { entries }', value);
      let total = 0;
      for (const entry of entries) {
        total += 9;
        if (entry.header.done) break;
        const def = multiEntryRecord(entry.header.type, type.direction);
        if (def !== null) total += sizeRecord(def, entry.body ?? invalid(name, `a body for op type ${entry.header.type}`, entry.body));
      }
      return total;
    }
  }
}

export function encodeRecord(w: JuteWriter, def: RecordDef, value: RecordValue): void {
  for (const [name, type] of def.entries) encodeField(w, type, value[name], name);
}

function encodeField(w: JuteWriter, type: FieldType, value: unknown, name: string): void {
  switch (type.kind) {
    case 'int':
      w.int(value as number, name);
      return;
    case 'long':
      w.long(toBigInt(value, name), name);
      return;
    case 'bool':
      if (typeof value !== 'boolean') invalid(name, 'a boolean', value);
      w.bool(value);
      return;
    case 'optionalBool':
      if (value === undefined) return;
      if (typeof value !== 'boolean') invalid(name, 'a boolean or undefined', value);
      w.bool(value);
      return;
    case 'buffer':
      w.buffer(value as Uint8Array | null);
      return;
    case 'ustring':
      w.ustring(value as string | null);
      return;
    case 'record':
      encodeRecord(w, type.record, value as RecordValue);
      return;
    case 'vector': {
      if (value === null) {
        w.int(-1);
        return;
      }
      const items = value as unknown[];
      w.int(items.length);
      for (const item of items) encodeField(w, type.of, item, name);
      return;
    }
    case 'multi': {
      for (const entry of (value as MultiValue).entries) {
        w.int(entry.header.type, 'multi type');
        w.bool(entry.header.done);
        w.int(entry.header.err, 'multi err');
        if (entry.header.done) return;
        const def = multiEntryRecord(entry.header.type, type.direction);
        if (def !== null) encodeRecord(w, def, entry.body as RecordValue);
      }
      // A multi without its terminator would make the server read past the frame.
      throw new ProtocolError('invalidValue', `${name}: multi entries must end with a done=true terminator`);
    }
  }
}

/** Encodes a single field value (e.g. an ACL list) into a fresh buffer of exactly its size. */
export function encodeFieldToBuffer(type: FieldType, value: unknown): Buffer {
  const w = new JuteWriter(sizeField(type, value, 'value'));
  encodeField(w, type, value, 'value');
  return w.buf;
}

/** Encodes one record into a fresh buffer of exactly its size. */
export function encodeRecordToBuffer(def: RecordDef, value: RecordValue): Buffer {
  const w = new JuteWriter(sizeRecord(def, value));
  encodeRecord(w, def, value);
  return w.buf;
}

// ---------------------------------------------------------------- scan (path positions)

/** Receives each mapped field: [start, end) covers the whole encoded field. */
export interface PathSink {
  /** An ACL list (decoded, since it is small and rare); [start, end) covers its count and entries. */
  acl?(start: number, end: number, value: RecordValue[] | null): void;
  path(start: number, end: number, value: string | null, inVector: boolean, createFlags: number | undefined, field: string): void;
  /** Called before the elements of a vector of paths; returns a token passed to vectorEnd. */
  vectorStart(countOffset: number, count: number): number;
  vectorEnd(token: number): void;
}

const lastPathIndex = new WeakMap<RecordDef, number>();

function hasPaths(type: FieldType): boolean {
  switch (type.kind) {
    case 'ustring':
      return type.path;
    case 'vector':
      return type.acl === true || hasPaths(type.of);
    case 'record':
      return lastMappedField(type.record) >= 0;
    case 'multi':
      return true;
    default:
      return false;
  }
}

/** Index of the last field that holds a path or an ACL list (directly or nested); -1 when none. */
export function lastMappedField(def: RecordDef): number {
  const cached = lastPathIndex.get(def);
  if (cached !== undefined) return cached;
  let last = -1;
  def.entries.forEach(([, type], index) => {
    if (hasPaths(type)) last = index;
  });
  lastPathIndex.set(def, last);
  return last;
}

/**
 * Walks a record reporting path fields to `sink`. With `full = false` it stops after the last
 * path-bearing field: the rest of the frame is copied as is, so it need not be parsed.
 */
export function scanRecord(r: JuteReader, def: RecordDef, sink: PathSink, full: boolean): void {
  const { entries } = def;
  const last = full ? entries.length - 1 : lastMappedField(def);
  const createFlags = def.createFlagsField === undefined ? undefined : peekIntField(r, def, def.createFlagsField);
  for (let i = 0; i <= last; i++) {
    const [name, type] = entries[i]!;
    scanField(r, type, sink, name, false, createFlags);
  }
}

/** Reads an int field further on in the record without moving the reader. */
function peekIntField(r: JuteReader, def: RecordDef, wanted: string): number {
  const start = r.pos;
  try {
    for (const [name, type] of def.entries) {
      if (name === wanted) return r.int(name);
      scanField(r, type, IGNORE_PATHS, name, false, undefined);
    }
    throw new ProtocolError('invalidValue', `${def.name} has no field ${wanted}`);
  } finally {
    r.pos = start;
  }
}

const IGNORE_PATHS: PathSink = { path() {}, vectorStart: () => 0, vectorEnd() {} };

function scanField(r: JuteReader, type: FieldType, sink: PathSink, name: string, inVector: boolean, createFlags: number | undefined): void {
  switch (type.kind) {
    case 'int':
      r.need(4, name);
      r.pos += 4;
      return;
    case 'long':
      r.need(8, name);
      r.pos += 8;
      return;
    case 'bool':
      r.need(1, name);
      r.pos += 1;
      return;
    case 'optionalBool':
      if (r.remaining > 0) r.pos += 1;
      return;
    case 'buffer':
      r.skipSized(name);
      return;
    case 'ustring': {
      if (!type.path) {
        r.skipSized(name);
        return;
      }
      const start = r.pos;
      const value = r.ustring(name);
      sink.path(start, r.pos, value, inVector, createFlags, name);
      return;
    }
    case 'record':
      scanRecord(r, type.record, sink, true);
      return;
    case 'vector': {
      if (type.acl === true && sink.acl !== undefined) {
        const start = r.pos;
        const value = decodeField(r, type, name) as RecordValue[] | null;
        sink.acl(start, r.pos, value);
        return;
      }
      const countOffset = r.pos;
      const count = r.length(name, minSize(type.of));
      if (count <= 0) return;
      const pathVector = type.of.kind === 'ustring' && type.of.path;
      const token = pathVector ? sink.vectorStart(countOffset, count) : 0;
      for (let i = 0; i < count; i++) scanField(r, type.of, sink, name, pathVector, createFlags);
      if (pathVector) sink.vectorEnd(token);
      return;
    }
    case 'multi':
      for (;;) {
        const at = r.pos;
        const entryType = r.int('multi type');
        const done = r.bool('multi done');
        r.int('multi err');
        if (done) return;
        const def = multiEntryRecord(entryType, type.direction, at);
        if (def !== null) scanRecord(r, def, sink, true);
      }
  }
}
