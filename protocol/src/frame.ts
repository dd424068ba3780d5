/**
 * The binary frame every gossip message and stream message travels in:
 *
 *   offset 0   4 bytes  magic "SLSW"
 *   offset 4   u8       protocol version
 *   offset 5   u32 LE   header length H
 *   offset 9   H bytes  header: canonical JSON {"message": …, "tensors": [{"dtype","name","shape"}, …]}
 *                       padded with spaces so that the payload starts at a multiple of 8
 *   then       payload: the tensors' raw little-endian bytes in table order, each starting at the next
 *                       multiple of 8 (zero padding in between); the frame ends with the last tensor
 *
 * Tensors never go through JSON. The table is sorted by name, the header is canonical JSON (see
 * canonicalJson) of the zod-parsed message, so a frame has exactly one encoding: the decoder rejects any
 * other (NonCanonicalError) and every accepted frame re-encodes to the same bytes.
 */
import { z } from 'zod';
import { PROTOCOL_LIMITS, PROTOCOL_VERSION } from './constants.js';
import type { ProtocolLimits } from './constants.js';
import {
  BadMagicError,
  FrameTooLargeError,
  LimitExceededError,
  NonCanonicalError,
  SchemaViolationError,
  TensorBoundsError,
  TruncatedFrameError,
  UnsupportedVersionError,
  WrongJobError,
} from './errors.js';
import { canonicalJson } from './hash.js';
import { Message, trainableParamCount } from './messages.js';
import type { JobManifest } from './messages.js';
import { DTYPES, DTYPE_BYTES, checkFinite, checkTensorBytes, shapeElements } from './tensor.js';
import type { Tensor } from './tensor.js';
import { describeIssues, jsonWithinBounds } from './json-bounds.js';

/** "SLSW" */
export const FRAME_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x53, 0x4c, 0x53, 0x57);
/** Magic, version byte and header length. */
export const FRAME_PREAMBLE_BYTES = 9;
/** Alignment of the payload and of every tensor in it (enough for f64 and i64 views). */
export const FRAME_ALIGNMENT = 8;

/** What a message may look like before zod fills in defaults. */
export type MessageInput = z.input<typeof Message>;

export interface DecodedFrame {
  message: Message;
  /** Views into the frame bytes (no copy); 8-byte aligned when the frame's buffer offset is. */
  tensors: Record<string, Tensor>;
}

export interface DecodeFrameOptions {
  /** Largest frame the caller accepts: maxGossipFrameBytes for gossip, a stream limit for streams. */
  maxBytes: number;
  /** Reject frames of any other job (WrongJobError). */
  jobId?: string;
  /** Tighter limits, e.g. from limitsFromManifest; a value above the protocol constant is ignored. */
  limits?: Partial<ProtocolLimits>;
}

/** Table entry shape only; limits are checked separately so that they may be tightened per call. */
const TensorTableEntry = z
  .object({
    dtype: z.enum(DTYPES),
    name: z.string().min(1),
    shape: z.array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)),
  })
  .strict();
type TensorTableEntry = z.infer<typeof TensorTableEntry>;

const FrameHeader = z.object({ message: Message, tensors: z.array(TensorTableEntry) }).strict();

/**
 * Deepest nesting of a valid header: header → message → training → inner, header → message → deltas →
 * ref, header → tensors → entry → shape. Checked before JSON.parse so hostile nesting costs nothing.
 */
const MAX_HEADER_DEPTH = 4;
/** Longest array a valid header can hold (a delta's part digests; every other list is shorter). */
const MAX_HEADER_ARRAY_ITEMS = Math.max(
  PROTOCOL_LIMITS.maxDeltaParts,
  PROTOCOL_LIMITS.maxTensorsPerFrame,
  PROTOCOL_LIMITS.maxSummaryEntries,
  PROTOCOL_LIMITS.maxPeersListed,
);

const SPACE = 0x20;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function alignUp(n: number): number {
  return Math.ceil(n / FRAME_ALIGNMENT) * FRAME_ALIGNMENT;
}

/**
 * The protocol limits tightened by `partial`. Only tightening is possible: a frame limit above the
 * protocol constant would let a peer send what other peers must refuse.
 */
export function tightenLimits(partial: Partial<ProtocolLimits> = {}): ProtocolLimits {
  const limits = { ...PROTOCOL_LIMITS } as ProtocolLimits;
  for (const key of Object.keys(limits) as (keyof ProtocolLimits)[]) {
    const value = partial[key];
    if (value !== undefined && value < limits[key]) limits[key] = value;
  }
  return limits;
}

/**
 * Largest delta payload a job accepts: a dense f32 delta of its `params` values (trainableParamCount) plus
 * container overhead.
 * Every peer must refuse the same deltas as oversize, so the bound lives here.
 */
export function maxDeltaPayloadBytes(params: number): number {
  return params * 4 + 64 * 1024;
}

/**
 * Largest delta-announce frame a job accepts: the largest payload whole (a pull answer) behind the largest
 * header. A stream reader refuses any longer length prefix before it reads the frame.
 */
export function maxDeltaFrameBytes(params: number): number {
  return (
    maxDeltaPayloadBytes(params) + PROTOCOL_LIMITS.maxHeaderBytes + FRAME_PREAMBLE_BYTES + FRAME_ALIGNMENT
  );
}

/** Byte range [start, end) of slice `index` when a payload of `payloadBytes` is cut into `count` slices. */
export function partRange(
  payloadBytes: number,
  count: number,
  index: number,
): { start: number; end: number } {
  const size = Math.ceil(payloadBytes / count);
  return { start: Math.min(payloadBytes, index * size), end: Math.min(payloadBytes, (index + 1) * size) };
}

/**
 * Limits for one job's gossip frames: no tensor can hold more elements (or a longer dimension) than the
 * largest delta payload has bytes (delta parts are u8 slices of it; every other tensor is smaller).
 */
export function limitsFromManifest(manifest: JobManifest): ProtocolLimits {
  const most = maxDeltaPayloadBytes(trainableParamCount(manifest));
  return tightenLimits({ maxTensorElements: most, maxTensorDim: most });
}

/** Checks one table entry against the limits; returns its byte length. */
function checkTableEntry(entry: TensorTableEntry, limits: ProtocolLimits): number {
  if (entry.name.length > limits.maxNameLength) {
    throw new LimitExceededError('tensor name length', entry.name.length, limits.maxNameLength);
  }
  if (entry.shape.length > limits.maxTensorRank) {
    throw new LimitExceededError(
      `rank of tensor ${JSON.stringify(entry.name)}`,
      entry.shape.length,
      limits.maxTensorRank,
    );
  }
  for (const dim of entry.shape) {
    if (dim > limits.maxTensorDim) {
      throw new LimitExceededError(
        `dimension of tensor ${JSON.stringify(entry.name)}`,
        dim,
        limits.maxTensorDim,
      );
    }
  }
  return shapeElements(entry.shape, limits.maxTensorElements) * DTYPE_BYTES[entry.dtype];
}

/**
 * Tensor count and ranks of a raw (not yet validated) table, checked before zod, which would otherwise
 * validate every entry and dimension of an oversized table first.
 */
function checkTableSize(rawTable: unknown, limits: ProtocolLimits): void {
  if (!Array.isArray(rawTable)) return;
  if (rawTable.length > limits.maxTensorsPerFrame) {
    throw new LimitExceededError('tensors per frame', rawTable.length, limits.maxTensorsPerFrame);
  }
  for (const entry of rawTable as unknown[]) {
    const shape = (entry as { shape?: unknown } | null)?.shape;
    if (Array.isArray(shape) && shape.length > limits.maxTensorRank) {
      throw new LimitExceededError('tensor rank', shape.length, limits.maxTensorRank);
    }
  }
}

/** Header bytes (canonical JSON plus space padding) for a parsed message and a name-sorted table. */
function encodeHeader(message: Message, table: readonly TensorTableEntry[]): Uint8Array {
  const json = utf8Encoder.encode(canonicalJson({ message, tensors: table }));
  const padded = alignUp(FRAME_PREAMBLE_BYTES + json.length) - FRAME_PREAMBLE_BYTES;
  const header = new Uint8Array(padded).fill(SPACE);
  header.set(json);
  return header;
}

/** Offsets of each tensor relative to the payload start, and the payload length. */
function layoutPayload(byteLengths: readonly number[]): { offsets: number[]; payloadBytes: number } {
  const offsets: number[] = [];
  let end = 0;
  for (const length of byteLengths) {
    const offset = alignUp(end);
    offsets.push(offset);
    end = offset + length;
  }
  return { offsets, payloadBytes: end };
}

/**
 * Encodes a message and its tensors. Validates like the decoder (schema, protocol limits, tensor sizes,
 * finiteness) and throws the same typed errors, so a peer never sends what its peers must reject.
 */
export function encodeFrame(message: MessageInput, tensors: Record<string, Tensor> = {}): Uint8Array {
  const parsed = Message.safeParse(message);
  if (!parsed.success) throw new SchemaViolationError(`invalid message: ${describeIssues(parsed.error)}`);
  const limits = tightenLimits();
  const names = Object.keys(tensors).sort(compareCodeUnits);
  if (names.length > limits.maxTensorsPerFrame) {
    throw new LimitExceededError('tensors per frame', names.length, limits.maxTensorsPerFrame);
  }
  const table: TensorTableEntry[] = [];
  const byteLengths: number[] = [];
  for (const name of names) {
    const t = tensors[name]!;
    const entry = TensorTableEntry.safeParse({ dtype: t.dtype, name, shape: t.shape });
    if (!entry.success) {
      throw new SchemaViolationError(`tensor ${JSON.stringify(name)}: ${describeIssues(entry.error)}`);
    }
    checkTableEntry(entry.data, limits);
    checkTensorBytes(name, t);
    checkFinite(name, t);
    table.push(entry.data);
    byteLengths.push(t.data.length);
  }
  const header = encodeHeader(parsed.data, table);
  if (header.length > limits.maxHeaderBytes) {
    throw new LimitExceededError('frame header bytes', header.length, limits.maxHeaderBytes);
  }
  const { offsets, payloadBytes } = layoutPayload(byteLengths);
  const payloadStart = FRAME_PREAMBLE_BYTES + header.length;
  const frameBytes = payloadStart + payloadBytes;
  if (frameBytes > limits.maxStreamFrameBytes) {
    throw new FrameTooLargeError(frameBytes, limits.maxStreamFrameBytes);
  }

  const frame = new Uint8Array(frameBytes);
  frame.set(FRAME_MAGIC, 0);
  frame[4] = PROTOCOL_VERSION;
  new DataView(frame.buffer).setUint32(5, header.length, true);
  frame.set(header, FRAME_PREAMBLE_BYTES);
  names.forEach((name, i) => frame.set(tensors[name]!.data, payloadStart + offsets[i]!));
  return frame;
}

/**
 * Decodes and validates a frame: size, magic, version, header length, header nesting and array lengths,
 * JSON, table size, schema, job, tensor names and limits, canonical form, payload length, padding and
 * finiteness, in that order, so a cheap check always runs before an expensive one. Whatever the bytes, throws only ProtocolError subclasses (a
 * RangeError only for a meaningless `maxBytes`); an UnsupportedVersionError with `newer: true` is a frame
 * to Ignore, not to punish.
 */
export function decodeFrame(bytes: Uint8Array, opts: DecodeFrameOptions): DecodedFrame {
  // A NaN or negative limit is a caller bug that would otherwise switch the size check off.
  if (!(opts.maxBytes >= 0)) {
    throw new RangeError(`maxBytes must be a non-negative number, got ${opts.maxBytes}`);
  }
  const limits = tightenLimits(opts.limits);
  const maxBytes = Math.min(opts.maxBytes, limits.maxStreamFrameBytes);
  if (bytes.length > maxBytes) throw new FrameTooLargeError(bytes.length, maxBytes);
  if (bytes.length < FRAME_MAGIC.length) {
    throw new TruncatedFrameError(`frame of ${bytes.length} bytes has no magic`);
  }
  for (let i = 0; i < FRAME_MAGIC.length; i++) {
    if (bytes[i] !== FRAME_MAGIC[i]) {
      throw new BadMagicError('input is not a slimswarm frame (bad magic bytes)');
    }
  }
  if (bytes.length < FRAME_PREAMBLE_BYTES) {
    throw new TruncatedFrameError(`frame of ${bytes.length} bytes ends inside the preamble`);
  }
  // The version is read before anything whose layout a newer version might change.
  const version = bytes[4]!;
  if (version !== PROTOCOL_VERSION) throw new UnsupportedVersionError(version, PROTOCOL_VERSION);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(5, true);
  if (headerBytes > limits.maxHeaderBytes) {
    throw new LimitExceededError('frame header bytes', headerBytes, limits.maxHeaderBytes);
  }
  const payloadStart = FRAME_PREAMBLE_BYTES + headerBytes;
  if (payloadStart > bytes.length) {
    throw new TruncatedFrameError(`frame header of ${headerBytes} bytes runs past the end of the frame`);
  }
  const headerRegion = bytes.subarray(FRAME_PREAMBLE_BYTES, payloadStart);

  if (!jsonWithinBounds(headerRegion, MAX_HEADER_DEPTH, MAX_HEADER_ARRAY_ITEMS)) {
    throw new SchemaViolationError(
      `frame header JSON nests deeper than ${MAX_HEADER_DEPTH} or has an array over ${MAX_HEADER_ARRAY_ITEMS} items`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8Decoder.decode(headerRegion));
  } catch {
    throw new SchemaViolationError('frame header is not UTF-8 JSON');
  }
  checkTableSize((json as { tensors?: unknown } | null)?.tensors, limits);
  const header = FrameHeader.safeParse(json);
  if (!header.success) {
    throw new SchemaViolationError(`invalid frame header: ${describeIssues(header.error)}`);
  }
  const { message, tensors: table } = header.data;
  if (opts.jobId !== undefined && message.jobId !== opts.jobId) {
    throw new WrongJobError(opts.jobId, message.jobId);
  }

  if (new Set(table.map((entry) => entry.name)).size !== table.length) {
    throw new SchemaViolationError('frame names a tensor twice');
  }
  const byteLengths = table.map((entry) => checkTableEntry(entry, limits));
  const sorted = [...table].sort((a, b) => compareCodeUnits(a.name, b.name));
  const canonical = encodeHeader(message, sorted);
  if (!equalBytes(canonical, headerRegion)) {
    throw new NonCanonicalError('frame header is not in canonical form (JSON, tensor order or padding)');
  }

  const { offsets, payloadBytes } = layoutPayload(byteLengths);
  const frameBytes = payloadStart + payloadBytes;
  if (bytes.length < frameBytes) {
    throw new TruncatedFrameError(`frame payload needs ${frameBytes} bytes, the frame has ${bytes.length}`);
  }
  if (bytes.length > frameBytes) {
    throw new TensorBoundsError(`${bytes.length - frameBytes} bytes follow the last tensor of the frame`);
  }

  const tensors: [string, Tensor][] = [];
  let end = payloadStart;
  table.forEach((entry, i) => {
    const start = payloadStart + offsets[i]!;
    for (let p = end; p < start; p++) {
      if (bytes[p] !== 0) throw new NonCanonicalError('non-zero padding between tensors');
    }
    end = start + byteLengths[i]!;
    const tensor: Tensor = { dtype: entry.dtype, shape: entry.shape, data: bytes.subarray(start, end) };
    checkFinite(entry.name, tensor);
    tensors.push([entry.name, tensor]);
  });
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { message, tensors: Object.fromEntries(tensors) };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
