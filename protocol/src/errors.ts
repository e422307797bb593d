/**
 * The only error the codec ever throws. `kind` says what was wrong so callers can pick
 * the ZooKeeper answer (MARSHALLINGERROR, UNIMPLEMENTED, a clean close) without parsing messages.
 */
export type ProtocolErrorKind =
  | 'truncated' // a field runs past the end of its frame
  | 'negativeLength' // a length or count below -1 (the null marker)
  | 'frameTooLarge' // a frame length above the configured maximum
  | 'frameLengthMismatch' // the 4-byte prefix does not match the bytes handed over
  | 'unknownOpcode' // request opcode absent from the opcode table
  | 'unknownMultiOp' // a multi/multiRead entry with an op type that cannot appear there
  | 'unexpectedReply' // a reply whose xid matches no request in flight
  | 'invalidValue'; // a value that cannot be encoded (wrong type, out of range)

export class ProtocolError extends Error {
  readonly kind: ProtocolErrorKind;
  /** Byte offset inside the frame where decoding stopped, when known. */
  readonly offset: number | undefined;
  /** For frameTooLarge / negativeLength: the offending length as read from the wire. */
  readonly length: number | undefined;

  constructor(kind: ProtocolErrorKind, message: string, details: { offset?: number; length?: number } = {}) {
    super(message);
    this.name = 'ProtocolError';
    this.kind = kind;
    this.offset = details.offset;
    this.length = details.length;
  }
}

export function isProtocolError(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError;
}
