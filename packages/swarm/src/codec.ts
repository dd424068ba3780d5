/**
 * Delta codecs. A delta is one flat f32 vector (P, see model.ts). Codecs turn it into a few named
 * tensors (the payload) and back. Decoding is exact and deterministic: every peer reconstructs the same
 * f32 bits from the same payload, which the bitwise-identical merge relies on.
 *
 *  - dense-f32: the vector as is.
 *  - dense-f16: rounded to half precision.
 *  - topk-int8: the k = ceil(fraction·P) largest-magnitude coordinates (ties broken by lower index),
 *    indices as LEB128 varints of the gaps between ascending indices, values as int8 with one f32 scale
 *    per block of QUANT_BLOCK kept values (scale = max|v|/127).
 *
 * Error feedback (Seide et al. 2014; Karimireddy et al. 2019): what a lossy codec did not send is kept
 * as a residual and added to the next round's delta, so nothing is lost, only delayed.
 */
import {
  f16BitsToF32,
  f32ToF16Bits,
  tensorFromTyped,
  tensorToTyped,
  trainableParamCount,
  type CodecId,
  type DType,
  type Tensor,
} from '@slimswarm/protocol';
import { DeltaDecodeError } from './errors.js';

/** Kept values per int8 scale. */
export const QUANT_BLOCK = 64;

/** Payload tensors by name, in protocol form (dtype, shape, little-endian bytes). */
export type CodecTensors = Record<string, Tensor>;

export interface CodecOptions {
  codec: CodecId;
  /** Fraction of coordinates kept by topk-int8. */
  topkFraction: number;
}

/** Encodes a delta (P) into payload tensors. */
export function encodeDelta(delta: Float32Array, opts: CodecOptions): CodecTensors {
  const size = tensorFromTyped('u32', [1], Uint32Array.of(delta.length));
  switch (opts.codec) {
    case 'dense-f32':
      return { size, values: tensorFromTyped('f32', [delta.length], delta) };
    case 'dense-f16':
      return { size, values: tensorFromTyped('f16', [delta.length], f32ToF16Bits(delta)) };
    case 'topk-int8':
      return { size, ...encodeTopk(delta, topkCount(delta.length, opts.topkFraction)) };
  }
}

export function topkCount(size: number, fraction: number): number {
  return Math.min(size, Math.max(1, Math.ceil(fraction * size)));
}

/**
 * What a payload must fit, from the manifest: P (trainableParamCount) and the job's top-k fraction.
 * Every length a payload carries is checked against these before anything of that length is allocated.
 */
export interface DeltaShape {
  params: number;
  topkFraction: number;
}

/** The shape a job's deltas must have. */
export function deltaShapeOf(
  manifest: Parameters<typeof trainableParamCount>[0] & { compression: { topkFraction: number } },
): DeltaShape {
  return { params: trainableParamCount(manifest), topkFraction: manifest.compression.topkFraction };
}

/** Varint bytes of one index gap below P: ⌈bits(P − 1) / 7⌉, at least 1. */
function maxGapBytes(params: number): number {
  return Math.max(1, Math.ceil(Math.log2(Math.max(2, params)) / 7));
}

/**
 * The element count each tensor of a codec's payload must have (rank 1 for all of them), checked in
 * this order; index_gaps gives the range of its byte length (1 to maxGapBytes varint bytes per index).
 */
function expectedTensors(codec: CodecId, shape: DeltaShape): Record<string, ExpectedTensor> {
  const size: ExpectedTensor = { dtype: 'u32', length: [1, 1] };
  const P = shape.params;
  switch (codec) {
    case 'dense-f32':
      return { size, values: { dtype: 'f32', length: [P, P] } };
    case 'dense-f16':
      return { size, values: { dtype: 'f16', length: [P, P] } };
    case 'topk-int8': {
      const k = topkCount(P, shape.topkFraction);
      const blocks = Math.ceil(k / QUANT_BLOCK);
      return {
        size,
        values: { dtype: 'i8', length: [k, k] },
        scales: { dtype: 'f32', length: [blocks, blocks] },
        index_gaps: { dtype: 'u8', length: [k, k * maxGapBytes(P)] },
      };
    }
  }
}

interface ExpectedTensor {
  dtype: DType;
  /** Smallest and largest element count. */
  length: [number, number];
}

/**
 * Decodes payload tensors into a delta of P values. Throws DeltaDecodeError on anything the encoder
 * would not have produced for this job: other tensor names, dtypes or shapes, a top-k payload with
 * another number of values than ⌈topkFraction·P⌉ (so a dense delta cannot pass as top-k), indices out
 * of range or not strictly ascending, a non-canonical index stream, the int8 value −128. A peer never
 * trusts lengths or indices it received: all of them are checked before anything is allocated.
 */
export function decodeDelta(codec: CodecId, tensors: CodecTensors, shape: DeltaShape): Float32Array {
  const expected = expectedTensors(codec, shape);
  const names = Object.keys(tensors).sort();
  if (names.join() !== Object.keys(expected).sort().join()) {
    throw new DeltaDecodeError(
      `${codec} payload must hold exactly the tensors ${Object.keys(expected).join(', ')}`,
    );
  }
  for (const [name, want] of Object.entries(expected)) {
    const t = tensors[name]!;
    const [min, max] = want.length;
    const n = t.shape.length === 1 ? t.shape[0]! : -1;
    if (t.dtype !== want.dtype || n < min || n > max) {
      const length = min === max ? `${min}` : `${min}…${max}`;
      throw new DeltaDecodeError(`${codec} tensor ${name}: expected ${want.dtype} [${length}]`);
    }
  }
  // Dtypes were checked above; the argument only types the result.
  const typed = <D extends DType>(name: string, _dtype: D) =>
    tensorToTyped(tensors[name]! as Tensor & { dtype: D });
  if (typed('size', 'u32')[0] !== shape.params) {
    throw new DeltaDecodeError(
      `payload is for a model of another size (expected ${shape.params} parameters)`,
    );
  }
  switch (codec) {
    case 'dense-f32':
      return typed('values', 'f32');
    case 'dense-f16':
      return f16BitsToF32(typed('values', 'f16'));
    case 'topk-int8':
      return decodeTopk(
        typed('index_gaps', 'u8'),
        typed('values', 'i8'),
        typed('scales', 'f32'),
        shape.params,
      );
  }
}

/** Index of the k largest |v| (ties: lower index first), ascending. */
export function topkIndices(v: Float32Array, k: number): Uint32Array {
  const n = v.length;
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const mag = new Float32Array(n); // [P] |v|
  for (let i = 0; i < n; i++) mag[i] = Math.abs(v[i]!);
  const threshold = kthLargest(Float32Array.from(mag), k);
  const out = new Uint32Array(k); // [k]
  let above = 0;
  for (let i = 0; i < n; i++) if (mag[i]! > threshold) above++;
  // Everything strictly above the threshold is kept; the rest of the k slots go to the lowest indices at it.
  let atBudget = k - above;
  let j = 0;
  for (let i = 0; i < n && j < k; i++) {
    const m = mag[i]!;
    if (m > threshold || (m === threshold && atBudget-- > 0)) out[j++] = i;
  }
  return out;
}

/** k-th largest value (1-based) by quickselect; reorders `a`. */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1;
  // Deterministic pivot (median of three) keeps the result independent of randomness; the value is
  // unique anyway, only the running time depends on pivots.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const pivot = median3(a[lo]!, a[mid]!, a[hi]!);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

function median3(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

function encodeTopk(v: Float32Array, k: number): CodecTensors {
  const idx = topkIndices(v, k);
  const gaps = new Uint8Array(5 * k); // worst case: 5 varint bytes per u32 gap
  let g = 0;
  let prev = 0;
  for (let j = 0; j < k; j++) {
    let gap = idx[j]! - prev;
    prev = idx[j]!;
    while (gap >= 0x80) {
      gaps[g++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    gaps[g++] = gap;
  }
  const nBlocks = Math.ceil(k / QUANT_BLOCK);
  const scales = new Float32Array(nBlocks); // [ceil(k/B)]
  const q = new Int8Array(k); // [k]
  for (let b = 0; b < nBlocks; b++) {
    const end = Math.min(k, (b + 1) * QUANT_BLOCK);
    let max = 0;
    for (let j = b * QUANT_BLOCK; j < end; j++) max = Math.max(max, Math.abs(v[idx[j]!]!));
    const scale = Math.fround(max / 127);
    scales[b] = scale;
    for (let j = b * QUANT_BLOCK; j < end; j++) {
      q[j] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(v[idx[j]!]! / scale)));
    }
  }
  return {
    index_gaps: tensorFromTyped('u8', [g], gaps.slice(0, g)),
    scales: tensorFromTyped('f32', [nBlocks], scales),
    values: tensorFromTyped('i8', [k], q),
  };
}

function decodeTopk(gaps: Uint8Array, q: Int8Array, scales: Float32Array, size: number): Float32Array {
  // Counts (k values, ⌈k/B⌉ scales, k…k·maxGapBytes index bytes) were checked against the manifest.
  const k = q.length;
  for (const s of scales)
    if (!Number.isFinite(s) || s < 0) throw new DeltaDecodeError('topk-int8: scale not finite and ≥ 0');
  for (const v of q)
    if (v === -128) throw new DeltaDecodeError('topk-int8: value −128 (the encoder clamps to ±127)');
  const out = new Float32Array(size); // [P]
  let pos = 0;
  let index = 0;
  for (let j = 0; j < k; j++) {
    let gap = 0;
    let shift = 0;
    for (;;) {
      if (pos >= gaps.length) throw new DeltaDecodeError('topk-int8: index stream ends early');
      if (shift > 28) throw new DeltaDecodeError('topk-int8: index varint too long');
      const byte = gaps[pos++]!;
      gap += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) {
        // The encoder writes the shortest form: a last byte of 0 after others is a padded varint.
        if (byte === 0 && shift > 7) throw new DeltaDecodeError('topk-int8: index varint not minimal');
        break;
      }
    }
    if (j > 0 && gap === 0) throw new DeltaDecodeError('topk-int8: indices must be strictly ascending');
    index += gap;
    if (index >= size) throw new DeltaDecodeError(`topk-int8: index ${index} out of range`);
    out[index] = Math.fround(q[j]! * scales[Math.floor(j / QUANT_BLOCK)]!);
  }
  if (pos !== gaps.length) throw new DeltaDecodeError('topk-int8: trailing bytes in the index stream');
  return out;
}

/**
 * Codec with error feedback: encode(Δ) sends compress(residual + Δ) and keeps the part that was not
 * sent. With errorFeedback off, the residual stays zero. Returns the payload tensors and the decoded
 * vector every receiver will see.
 */
export class ErrorFeedbackEncoder {
  private residual: Float32Array; // [P]

  constructor(
    size: number,
    private readonly opts: CodecOptions & { errorFeedback: boolean },
  ) {
    this.residual = new Float32Array(size);
  }

  /** Compresses residual + Δ; the residual changes only when the caller commits (the delta was sent). */
  encode(delta: Float32Array): { tensors: CodecTensors; sent: Float32Array; commit: () => void } {
    const target = new Float32Array(delta.length); // [P] residual + Δ
    for (let i = 0; i < delta.length; i++) target[i] = this.residual[i]! + delta[i]!;
    const tensors = encodeDelta(target, this.opts);
    const sent = decodeDelta(this.opts.codec, tensors, {
      params: delta.length,
      topkFraction: this.opts.topkFraction,
    });
    const commit = () => {
      if (!this.opts.errorFeedback) return;
      for (let i = 0; i < target.length; i++) this.residual[i] = target[i]! - sent[i]!;
    };
    return { tensors, sent, commit };
  }

  /** The residual no longer fits after a resync to another model: start afresh. */
  reset(): void {
    this.residual.fill(0);
  }

  residualNorm(): number {
    let s = 0;
    for (const r of this.residual) s += r * r;
    return Math.sqrt(s);
  }
}
