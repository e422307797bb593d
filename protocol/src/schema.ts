/**
 * The vocabulary of the declarative jute table. Every record of the client protocol is a
 * `RecordDef` built from these field types; encode, decode, size, scan (path mapping) and the
 * property-test generators are generic interpreters over them, so a record is described once.
 */
export interface IntType {
  readonly kind: 'int';
}
export interface LongType {
  readonly kind: 'long';
}
export interface BoolType {
  readonly kind: 'bool';
}
export interface BufferType {
  readonly kind: 'buffer';
}
/** A jute ustring. `path: true` marks a full znode path that a chroot mapping must rewrite. */
export interface UstringType {
  readonly kind: 'ustring';
  readonly path: boolean;
}
/** `acl: true` marks a vector<ACL> that an ACL mapping may rewrite (create, setACL, getACL). */
export interface VectorType<E extends FieldType = FieldType> {
  readonly kind: 'vector';
  readonly of: E;
  readonly acl?: boolean;
}
export interface RecordType<R extends RecordDef = RecordDef> {
  readonly kind: 'record';
  readonly record: R;
}
/** A trailing boolean that old peers omit (ConnectRequest/ConnectResponse readOnly). Only valid as a last field. */
export interface OptionalBoolType {
  readonly kind: 'optionalBool';
}
/** The body of multi (14) / multiRead (22): MultiHeader-tagged entries until done. */
export interface MultiType {
  readonly kind: 'multi';
  readonly direction: 'request' | 'response';
}

export type FieldType = IntType | LongType | BoolType | BufferType | UstringType | VectorType | RecordType | OptionalBoolType | MultiType;

export type Fields = Readonly<Record<string, FieldType>>;

export interface RecordDef<F extends Fields = Fields> {
  readonly name: string;
  /** Object key order is the wire order (string keys keep insertion order in JS). */
  readonly fields: F;
  /** The same fields as [name, type] pairs, precomputed: iterating an array beats for-in on the hot path. */
  readonly entries: readonly (readonly [string, FieldType])[];
  /**
   * An int field whose value changes how this record's paths must be mapped: a create's `flags`
   * (a sequential create of `/` must land under a chroot, not beside it).
   */
  readonly createFlagsField?: string;
}

export const int: IntType = { kind: 'int' };
export const long: LongType = { kind: 'long' };
export const bool: BoolType = { kind: 'bool' };
export const buffer: BufferType = { kind: 'buffer' };
export const ustring: UstringType = { kind: 'ustring', path: false };
export const path: UstringType = { kind: 'ustring', path: true };
export const optionalBool: OptionalBoolType = { kind: 'optionalBool' };
export const vector = <E extends FieldType>(of: E): VectorType<E> => ({ kind: 'vector', of });
/** A list of ACL entries that ACL mapping rewrites (see records.ts). */
export const aclList = <E extends FieldType>(of: E): VectorType<E> => ({ kind: 'vector', of, acl: true });
export const nested = <R extends RecordDef>(record: R): RecordType<R> => ({ kind: 'record', record });
export const multiRequest: MultiType = { kind: 'multi', direction: 'request' };
export const multiResponse: MultiType = { kind: 'multi', direction: 'response' };

export function record<F extends Fields>(name: string, fields: F, options: { createFlagsField?: keyof F & string } = {}): RecordDef<F> {
  return { name, fields, entries: Object.entries(fields), ...options };
}

// ---- Type-level mirror of the table, so decoded values are typed without hand-written interfaces.

export interface MultiEntryHeader {
  type: number;
  done: boolean;
  err: number;
}
export interface MultiEntry {
  header: MultiEntryHeader;
  /** The op's request record, or the result record; undefined for body-less results. */
  body: RecordValue | undefined;
}
/** Entries in wire order; the last one is the terminator (done = true, no body). */
export interface MultiValue {
  entries: MultiEntry[];
}

export type ValueOf<T extends FieldType> = T extends IntType
  ? number
  : T extends LongType
    ? bigint
    : T extends BoolType
      ? boolean
      : T extends BufferType
        ? Buffer | null
        : T extends UstringType
          ? string | null
          : T extends VectorType<infer E>
            ? ValueOf<E>[] | null
            : T extends RecordType<infer R>
              ? Infer<R>
              : T extends OptionalBoolType
                ? boolean | undefined
                : T extends MultiType
                  ? MultiValue
                  : never;

export type Infer<R extends RecordDef> = R extends RecordDef<infer F> ? { -readonly [K in keyof F]: ValueOf<F[K]> } : never;

/** Untyped view of any decoded record. */
export type RecordValue = Record<string, unknown>;
