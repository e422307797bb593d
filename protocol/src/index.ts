/**
 * jute-ts: the ZooKeeper client/server wire protocol. One declarative table (records.ts,
 * opcodes.ts) drives decoding, encoding and path mapping of every frame.
 */
export { ProtocolError, isProtocolError, type ProtocolErrorKind } from './errors.ts';
export * from './constants.ts';
export * from './four-letter-words.ts';
export * as Records from './records.ts';
export * from './schema.ts';
export { OPCODES, OpCode, Xid, opcodeInfo, opcodeName, type OpcodeInfo, type OpCodeName } from './opcodes.ts';
export { JuteReader, JuteWriter } from './jute.ts';
export {
  decodeRecord,
  encodeRecord,
  encodeRecordToBuffer,
  sizeRecord,
  minSize,
  multiEntryRecord,
  lastMappedField,
  encodeFieldToBuffer,
} from './codec.ts';
export { FrameReader, type FrameStream, DEFAULT_MAX_FRAME_SIZE, LENGTH_PREFIX, checkFrame, sealFrame } from './frames.ts';
export * from './packets.ts';
export { ConversationTracker, type PendingRequest } from './conversation.ts';
export {
  mapPaths,
  mapFields,
  validatePath,
  requestContext,
  DROP,
  REJECT,
  Rejection,
  type PathMapper,
  type AclMapper,
  type FieldMappers,
  type MapContext,
} from './paths.ts';
