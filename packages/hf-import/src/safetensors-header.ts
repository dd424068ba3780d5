/**
 * The header of a foreign safetensors file, read on its own so the tensors can then be streamed one byte
 * range at a time. Protocol's codec (`decodeSafetensors`) validates a whole file held in memory and knows
 * only our dtypes; here the file may be gigabytes and may hold any dtype Hugging Face writes, which must
 * be named in a clear error rather than rejected as an invalid header.
 */
import { z } from 'zod';
import { MalformedWeightsError, TruncatedWeightsError } from './errors.js';

/** A weights file opened for random access (node.ts: a file handle). */
export interface WeightsFile {
  /** Its name in the model folder, for messages. */
  readonly name: string;
  readonly size: number;
  /** Fills `into` with the bytes at `position` (the caller keeps the range inside the file). */
  read(into: Uint8Array, position: number): Promise<void>;
}

export interface TensorEntry {
  name: string;
  file: WeightsFile;
  /** safetensors dtype string as written (F32, BF16, I8, F8_E4M3, …). */
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

/** Python's safetensors refuses headers over 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of the dtypes safetensors defines, so any file's byte ranges can be checked. */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const Offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Entry = z
  .object({ dtype: z.string(), shape: z.array(Offset).max(8), data_offsets: z.tuple([Offset, Offset]) })
  .strict();
const Header = z.record(z.string(), z.unknown());
const Metadata = z.record(z.string(), z.string());

const utf8 = new TextDecoder('utf-8', { fatal: true });

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export async function readSafetensorsHeader(file: WeightsFile): Promise<TensorEntry[]> {
  if (file.size < 8) throw new TruncatedWeightsError(`${file.name}: ${file.size} bytes, no header size`);
  const sizeBytes = new Uint8Array(8);
  await file.read(sizeBytes, 0);
  const headerBytes = Number(new DataView(sizeBytes.buffer).getBigUint64(0, true));
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new MalformedWeightsError(
      `${file.name}: header of ${headerBytes} bytes (limit ${MAX_HEADER_BYTES})`,
    );
  }
  if (8 + headerBytes > file.size) {
    throw new TruncatedWeightsError(
      `${file.name}: header of ${headerBytes} bytes runs past the end of the file`,
    );
  }
  const json = new Uint8Array(headerBytes);
  await file.read(json, 8);
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(json));
  } catch {
    throw new MalformedWeightsError(`${file.name}: header is not UTF-8 JSON`);
  }
  const header = Header.safeParse(raw);
  if (!header.success) throw new MalformedWeightsError(`${file.name}: header must be a JSON object`);

  const dataStart = 8 + headerBytes;
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header.data)) {
    if (name === '__metadata__') {
      if (!Metadata.safeParse(value).success) {
        throw new MalformedWeightsError(`${file.name}: __metadata__ must map strings to strings`);
      }
      continue;
    }
    const entry = Entry.safeParse(value);
    if (!entry.success) {
      throw new MalformedWeightsError(`${file.name}: tensor ${name}: ${entry.error.issues[0]!.message}`);
    }
    const { dtype, shape, data_offsets: range } = entry.data;
    const size = ELEMENT_BYTES[dtype];
    if (size === undefined)
      throw new MalformedWeightsError(`${file.name}: tensor ${name}: unknown dtype ${dtype}`);
    if (range[1] - range[0] !== elements(shape) * size) {
      throw new MalformedWeightsError(
        `${file.name}: tensor ${name} (${dtype} [${shape.join(', ')}]) needs ${elements(shape) * size} bytes, its offsets give ${range[1] - range[0]}`,
      );
    }
    entries.push({ name, file, dtype, shape, begin: dataStart + range[0], end: dataStart + range[1] });
  }

  // The ranges must tile the data exactly, as safetensors itself requires: no gaps, overlaps or tail.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = dataStart;
  for (const t of byOffset) {
    if (t.begin !== covered) {
      throw new MalformedWeightsError(`${file.name}: tensor ${t.name} starts at a gap or an overlap`);
    }
    covered = t.end;
  }
  if (covered > file.size) {
    throw new TruncatedWeightsError(
      `${file.name}: the header describes ${covered} bytes, the file has ${file.size}`,
    );
  }
  if (covered < file.size) {
    throw new MalformedWeightsError(`${file.name}: ${file.size - covered} bytes after the last tensor`);
  }
  return entries;
}
