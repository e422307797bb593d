// fast-check generators derived from the record table, so every record gets random values
// without a hand-written generator per record.
import fc from 'fast-check';
import { OPCODES, type FieldType, type MultiEntry, type RecordDef, type RecordValue } from 'jute-ts';

const INT64 = { min: -(1n << 63n), max: (1n << 63n) - 1n };

export function arbField(type: FieldType): fc.Arbitrary<unknown> {
  switch (type.kind) {
    case 'int':
      return fc.integer({ min: -0x80000000, max: 0x7fffffff });
    case 'long':
      return fc.bigInt(INT64);
    case 'bool':
      return fc.boolean();
    case 'optionalBool':
      return fc.option(fc.boolean(), { nil: undefined });
    case 'buffer':
      return fc.option(
        fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
        { nil: null },
      );
    case 'ustring':
      // 'binary' = any code point but lone surrogates, which UTF-8 cannot carry.
      return type.path
        ? fc.option(
            fc.oneof(
              fc.constant('/'),
              fc
                .array(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 })
                .map((parts) => `/${parts.join('/')}`),
            ),
            { nil: null },
          )
        : fc.option(fc.string({ unit: 'binary', maxLength: 24 }), { nil: null });
    case 'vector':
      return fc.option(fc.array(arbField(type.of), { maxLength: 4 }), { nil: null });
    case 'record':
      return arbRecord(type.record);
    case 'multi':
      return arbMulti(type.direction);
  }
}

const recordArbs = new Map<RecordDef, fc.Arbitrary<RecordValue>>();

export function arbRecord(def: RecordDef): fc.Arbitrary<RecordValue> {
  let arb = recordArbs.get(def);
  if (arb === undefined) {
    const fields: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, type] of Object.entries(def.fields)) fields[name] = arbField(type);
    arb = fc.record(fields) as fc.Arbitrary<RecordValue>;
    recordArbs.set(def, arb);
  }
  return arb;
}

function arbMulti(direction: 'request' | 'response'): fc.Arbitrary<{ entries: MultiEntry[] }> {
  const kinds = OPCODES.filter((info) => info.subOp !== undefined);
  const entry = fc.oneof(
    ...kinds.map((info) => {
      const def = direction === 'request' ? info.request : info.response;
      return (def === null ? fc.constant(undefined) : arbRecord(def)).map(
        (body): MultiEntry => ({ header: { type: info.code, done: false, err: direction === 'request' ? -1 : 0 }, body }),
      );
    }),
    ...(direction === 'response'
      ? [fc.integer({ min: -127, max: 0 }).map((err): MultiEntry => ({ header: { type: -1, done: false, err }, body: { err } }))]
      : []),
  );
  return fc
    .array(entry, { maxLength: 4 })
    .map((entries) => ({ entries: [...entries, { header: { type: -1, done: true, err: -1 }, body: undefined }] }));
}
