/**
 * The safetensors container (https://huggingface.co/docs/safetensors), used for checkpoints and weight
 * sync: an 8-byte little-endian u64 header size N, N bytes of UTF-8 JSON (`{name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {string: string}}`), then the tensor data, whose offsets are
 * relative to the end of the header and must cover it exactly, without holes or overlaps.
 *
 * Our encoder writes one canonical form, so equal content gives equal bytes and equal SHA-256: tensors
 * sorted by name (UTF-16 code units) and laid out in that order, `__metadata__` first (left out when
 * empty) with sorted keys, the keys of each entry in the order dtype, shape, data_offsets, no whitespace,
 * and the header padded with spaces to a multiple of 8 so the data starts 8-byte aligned. The decoder
 * accepts any valid file (e.g. one written by Python's safetensors), canonical or not.
 */
import { z } from 'zod';
import {
  LimitExceededError,
  SafetensorsFormatError,
  SchemaViolationError,
  TensorBoundsError,
  TruncatedError,
} from './errors.js';
import {
  DTYPES,
  DTYPE_BYTES,
  checkFinite,
  checkTensorBytes,
  shapeElements,
  tensorByteLength,
} from './tensor.js';
import type { DType, Tensor } from './tensor.js';
import { describeIssues, jsonWithinBounds } from './json-bounds.js';

/** Header size limit when the caller gives none; Python's safetensors refuses headers over 100 MB. */
export const SAFETENSORS_MAX_HEADER_BYTES = 16 << 20;

const METADATA_KEY = '__metadata__';

/** Deepest nesting of a valid header (header → entry → shape); checked before JSON.parse. */
const MAX_HEADER_DEPTH = 3;
/** Highest tensor rank accepted; real checkpoints stay far below it. */
const MAX_RANK = 64;

const FILE_DTYPE: Readonly<Record<DType, string>> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  f64: 'F64',
  i8: 'I8',
  u8: 'U8',
  i32: 'I32',
  u32: 'U32',
  i64: 'I64',
};

const DTYPE_OF_FILE: ReadonlyMap<string, DType> = new Map(DTYPES.map((d) => [FILE_DTYPE[d], d]));

const Offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const HeaderEntry = z
  .object({
    dtype: z.enum(['F32', 'F16', 'BF16', 'F64', 'I8', 'U8', 'I32', 'U32', 'I64']),
    shape: z.array(Offset),
    data_offsets: z.tuple([Offset, Offset]),
  })
  .strict();

const MetadataValue = z.string();

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export interface DecodeSafetensorsOptions {
  /** Refuse inputs longer than this (default: no limit beyond the header limit). */
  maxBytes?: number;
  maxHeaderBytes?: number;
  /** Accept NaN and ±Infinity in float tensors (default false). */
  allowNonFinite?: boolean;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A tensor's dtype and shape, without its data. */
export interface TensorSpec {
  dtype: DType;
  shape: number[];
}

export interface SafetensorsLayout {
  /** The whole canonical file: header written, every tensor's data still zero. */
  bytes: Uint8Array;
  /** Where each tensor's data starts in `bytes` (8-byte aligned for the first, packed after it). */
  offsets: ReadonlyMap<string, number>;
}

/**
 * The canonical file of tensors of these dtypes and shapes with their data left to the caller, for writers
 * that fill each tensor in place (an importer converting weights straight into the file it serves, with
 * no second copy). encodeSafetensors is this plus copying the data in.
 */
export function layoutSafetensors(
  specs: Record<string, TensorSpec>,
  metadata: Record<string, string> = {},
): SafetensorsLayout {
  const names = Object.keys(specs).sort(compareCodeUnits);
  const members: string[] = [];
  const metadataKeys = Object.keys(metadata).sort(compareCodeUnits);
  if (metadataKeys.length > 0) {
    const entries = metadataKeys.map((key) => {
      const value = metadata[key];
      if (typeof value !== 'string') {
        throw new SchemaViolationError(`metadata ${JSON.stringify(key)} must be a string`);
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    members.push(`${JSON.stringify(METADATA_KEY)}:{${entries.join(',')}}`);
  }
  let offset = 0;
  const relative: Array<[string, number]> = [];
  for (const name of names) {
    if (name === METADATA_KEY) throw new SchemaViolationError(`a tensor may not be named ${METADATA_KEY}`);
    const t = specs[name]!;
    if (!DTYPES.includes(t.dtype)) {
      throw new SchemaViolationError(`tensor ${JSON.stringify(name)}: unknown dtype`);
    }
    const end = offset + tensorByteLength(t.dtype, t.shape);
    members.push(
      `${JSON.stringify(name)}:{"dtype":"${FILE_DTYPE[t.dtype]}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    relative.push([name, offset]);
    offset = end;
  }
  const json = utf8Encoder.encode(`{${members.join(',')}}`);
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + headerBytes + offset);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, headerBytes % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerBytes / 2 ** 32), true);
  bytes.set(json, 8);
  bytes.fill(SPACE, 8 + json.length, 8 + headerBytes);
  return { bytes, offsets: new Map(relative.map(([name, at]) => [name, 8 + headerBytes + at])) };
}

/** Canonical safetensors bytes of named tensors (see the module comment for what "canonical" means). */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  // Sizes are checked against the data before the layout allocates the file they add up to.
  for (const [name, t] of Object.entries(tensors)) if (DTYPES.includes(t.dtype)) checkTensorBytes(name, t);
  const { bytes, offsets } = layoutSafetensors(tensors, metadata);
  for (const [name, at] of offsets) bytes.set(tensors[name]!.data, at);
  return bytes;
}

interface Located {
  name: string;
  tensor: Tensor;
  begin: number;
  end: number;
}

/**
 * Parses and validates a safetensors file. Returned tensor data are views into `bytes` (no copy): copy
 * them (e.g. `tensorToF32`) before reusing the buffer. Throws only ProtocolError subclasses.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  opts: DecodeSafetensorsOptions = {},
): SafetensorsContent {
  const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const maxHeaderBytes = opts.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  if (bytes.length > maxBytes) throw new LimitExceededError('safetensors bytes', bytes.length, maxBytes);
  if (bytes.length < 8) {
    throw new TruncatedError(`safetensors input of ${bytes.length} bytes has no header size`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerBytes = high * 2 ** 32 + low;
  if (high !== 0 || headerBytes > maxHeaderBytes) {
    throw new LimitExceededError('safetensors header bytes', headerBytes, maxHeaderBytes);
  }
  if (8 + headerBytes > bytes.length) {
    throw new TruncatedError(`safetensors header of ${headerBytes} bytes runs past the end of the input`);
  }
  if (headerBytes < 2 || bytes[8] !== OPEN_BRACE) {
    throw new SafetensorsFormatError('safetensors header must be a JSON object starting with "{"');
  }
  const header = parseHeaderJson(bytes.subarray(8, 8 + headerBytes));
  const dataStart = 8 + headerBytes;
  const dataLength = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const located: Located[] = [];
  for (const name of Object.keys(header)) {
    const raw = header[name];
    if (name === METADATA_KEY) {
      metadata = parseMetadata(raw);
      continue;
    }
    const entry = HeaderEntry.safeParse(raw);
    if (!entry.success) {
      throw new SafetensorsFormatError(`tensor ${JSON.stringify(name)}: ${describeIssues(entry.error)}`);
    }
    const {
      dtype: fileDType,
      shape,
      data_offsets: [begin, end],
    } = entry.data;
    const dtype = DTYPE_OF_FILE.get(fileDType)!;
    const expected = shapeElements(shape) * DTYPE_BYTES[dtype];
    if (end < begin || end - begin !== expected) {
      throw new TensorBoundsError(
        `tensor ${JSON.stringify(name)} (${fileDType} [${shape.join(', ')}]) needs ${expected} bytes, offsets [${begin}, ${end}] give ${end - begin}`,
      );
    }
    located.push({ name, tensor: { dtype, shape, data: new Uint8Array(0) }, begin, end });
  }

  // Offsets must tile the data exactly: sorted by position each tensor starts where the previous ended.
  located.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of located) {
    if (t.begin !== covered) {
      throw new TensorBoundsError(
        `tensor ${JSON.stringify(t.name)} starts at ${t.begin}, expected ${covered} (gap or overlap in the data)`,
      );
    }
    covered = t.end;
  }
  if (covered > dataLength) {
    throw new TruncatedError(`safetensors data needs ${covered} bytes, the input holds ${dataLength}`);
  }
  if (covered < dataLength) {
    throw new TensorBoundsError(
      `${dataLength - covered} bytes after the last tensor are not indexed by the header`,
    );
  }

  for (const t of located) {
    t.tensor.data = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    if (!opts.allowNonFinite) checkFinite(t.name, t.tensor);
  }
  located.sort((a, b) => compareCodeUnits(a.name, b.name));
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(located.map((t) => [t.name, t.tensor])), metadata };
}

function parseHeaderJson(headerBytes: Uint8Array): Record<string, unknown> {
  if (!jsonWithinBounds(headerBytes, MAX_HEADER_DEPTH, MAX_RANK)) {
    throw new SafetensorsFormatError(
      `safetensors header JSON nests deeper than ${MAX_HEADER_DEPTH} or has a shape of rank over ${MAX_RANK}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decoder.decode(headerBytes));
  } catch {
    throw new SafetensorsFormatError('safetensors header is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SafetensorsFormatError('safetensors header must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function parseMetadata(raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsFormatError(`${METADATA_KEY} must be an object of strings`);
  }
  const record = raw as Record<string, unknown>;
  const entries = Object.keys(record).map((key) => {
    const value = MetadataValue.safeParse(record[key]);
    if (!value.success) throw new SafetensorsFormatError(`${METADATA_KEY}.${key} must be a string`);
    return [key, value.data] as const;
  });
  return Object.fromEntries(entries);
}
