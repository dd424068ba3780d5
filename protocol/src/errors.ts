/**
 * One error class per decode (or encode) failure, in the js-libp2p style: callers tell conditions apart by
 * the stable `name` (or `code`), which survives bundling and duplicate copies of this package, whereas
 * `instanceof` does not. Decoders in this package throw nothing but these.
 */
export abstract class ProtocolError extends Error {
  abstract override readonly name: ProtocolErrorName;
  abstract readonly code: string;
}

/** True for every error this package throws on bad input, including ones from another copy of it. */
export function isProtocolError(e: unknown): e is ProtocolError {
  if (e instanceof ProtocolError) return true;
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && ERROR_NAMES.has(e.name);
}

/** A frame ends before its preamble, header or tensor payload does. */
export class TruncatedFrameError extends ProtocolError {
  override readonly name = 'TruncatedFrameError';
  readonly code = 'ERR_TRUNCATED_FRAME';
}

/** A safetensors file ends before its header length, header or data does. */
export class TruncatedError extends ProtocolError {
  override readonly name = 'TruncatedError';
  readonly code = 'ERR_TRUNCATED';
}

/** A frame is longer than the caller's byte limit (gossip or stream); nothing else was read. */
export class FrameTooLargeError extends ProtocolError {
  override readonly name = 'FrameTooLargeError';
  readonly code = 'ERR_FRAME_TOO_LARGE';
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`frame of ${bytes} bytes exceeds the limit of ${maxBytes} bytes`);
  }
}

/** A length, count or dimension inside the input exceeds a protocol or manifest limit. */
export class LimitExceededError extends ProtocolError {
  override readonly name = 'LimitExceededError';
  readonly code = 'ERR_LIMIT_EXCEEDED';
  constructor(
    readonly limit: string,
    readonly value: number,
    readonly max: number,
  ) {
    super(`${limit} exceeded: ${value} > ${max}`);
  }
}

/** The input does not start with the frame magic bytes: not a slimswarm frame at all. */
export class BadMagicError extends ProtocolError {
  override readonly name = 'BadMagicError';
  readonly code = 'ERR_BAD_MAGIC';
}

/**
 * The frame's protocol version is not ours. `newer` tells a gossip validator to Ignore the message (a peer
 * that already upgraded during a rolling upgrade) rather than Reject it (an obsolete or broken peer).
 */
export class UnsupportedVersionError extends ProtocolError {
  override readonly name = 'UnsupportedVersionError';
  readonly code = 'ERR_UNSUPPORTED_VERSION';
  readonly newer: boolean;
  constructor(
    readonly version: number,
    readonly supported: number,
  ) {
    super(`protocol version ${version} is not supported (this peer speaks ${supported})`);
    this.newer = version > supported;
  }
}

/** A message belongs to another job than the one the caller serves. */
export class WrongJobError extends ProtocolError {
  override readonly name = 'WrongJobError';
  readonly code = 'ERR_WRONG_JOB';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`message is for job ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

/** A header is not UTF-8 JSON, or its JSON does not match the zod schema. */
export class SchemaViolationError extends ProtocolError {
  override readonly name = 'SchemaViolationError';
  readonly code = 'ERR_SCHEMA_VIOLATION';
}

/**
 * A frame decodes but is not byte-for-byte what the encoder writes for its content (header JSON not
 * canonical, tensors out of order, non-zero padding). Frames have exactly one encoding, so equal content
 * always means equal bytes and equal digests.
 */
export class NonCanonicalError extends ProtocolError {
  override readonly name = 'NonCanonicalError';
  readonly code = 'ERR_NON_CANONICAL';
}

/** A float tensor holds NaN or ±Infinity. */
export class NonFiniteTensorError extends ProtocolError {
  override readonly name = 'NonFiniteTensorError';
  readonly code = 'ERR_NON_FINITE_TENSOR';
  constructor(
    readonly tensor: string,
    readonly index: number,
  ) {
    super(`tensor ${JSON.stringify(tensor)} has a non-finite value at element ${index}`);
  }
}

/** Tensor bytes do not match the declared dtype and shape, or lie outside / leave gaps in the data. */
export class TensorBoundsError extends ProtocolError {
  override readonly name = 'TensorBoundsError';
  readonly code = 'ERR_TENSOR_BOUNDS';
}

/** A safetensors file breaks the format (header length, JSON, dtype names, metadata). */
export class SafetensorsFormatError extends ProtocolError {
  override readonly name = 'SafetensorsFormatError';
  readonly code = 'ERR_SAFETENSORS_FORMAT';
}

/** A tensor has a dtype other than the one an operation needs (e.g. `tensorToF32` on an f16 tensor). */
export class DTypeMismatchError extends ProtocolError {
  override readonly name = 'DTypeMismatchError';
  readonly code = 'ERR_DTYPE_MISMATCH';
}

/** A signed job's signature is missing, malformed, or does not verify under the manifest's job key. */
export class JobSignatureError extends ProtocolError {
  override readonly name = 'JobSignatureError';
  readonly code = 'ERR_JOB_SIGNATURE';
}

/**
 * A job's key is not the one the caller expected: a pinned key (trust on first use, or given by the
 * operator), or the secret key offered to sign for it. A rewritten job signed by another key lands here.
 */
export class JobKeyMismatchError extends ProtocolError {
  override readonly name = 'JobKeyMismatchError';
  readonly code = 'ERR_JOB_KEY_MISMATCH';
  constructor(
    message: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message);
  }
}

/**
 * An HTTP body (the job listing, the base checkpoint, a tokenizer file) is longer than the caller allows:
 * declared so in its Content-Length, or more bytes arrived. Reading stopped there (readBounded).
 */
export class BodyTooLargeError extends ProtocolError {
  override readonly name = 'BodyTooLargeError';
  readonly code = 'ERR_BODY_TOO_LARGE';
  constructor(
    what: string,
    /** The declared length, or the bytes received when reading stopped. */
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`${what}: body of at least ${bytes} bytes exceeds the limit of ${maxBytes} bytes`);
  }
}

/** The `name` of every protocol error: callers map them to their own vocabulary with a typed table. */
export const PROTOCOL_ERROR_NAMES = [
  'TruncatedFrameError',
  'TruncatedError',
  'FrameTooLargeError',
  'LimitExceededError',
  'BadMagicError',
  'UnsupportedVersionError',
  'WrongJobError',
  'SchemaViolationError',
  'NonCanonicalError',
  'NonFiniteTensorError',
  'TensorBoundsError',
  'SafetensorsFormatError',
  'DTypeMismatchError',
  'JobSignatureError',
  'JobKeyMismatchError',
  'BodyTooLargeError',
] as const;
export type ProtocolErrorName = (typeof PROTOCOL_ERROR_NAMES)[number];
const ERROR_NAMES: ReadonlySet<string> = new Set(PROTOCOL_ERROR_NAMES);
