/**
 * Tensors on the wire and on disk: a dtype, a shape and raw little-endian bytes. Typed arrays use the
 * platform's byte order, and every JavaScript engine slimswarm targets (V8, SpiderMonkey, JavaScriptCore on
 * x86-64 and ARM) is little-endian, so typed-array bytes are copied as they are.
 */
import { DTypeMismatchError, LimitExceededError, NonFiniteTensorError, TensorBoundsError } from './errors.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'f64' | 'i8' | 'u8' | 'i32' | 'u32' | 'i64';

export const DTYPES = [
  'f32',
  'f16',
  'bf16',
  'f64',
  'i8',
  'u8',
  'i32',
  'u32',
  'i64',
] as const satisfies readonly DType[];

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  f64: 8,
  i8: 1,
  u8: 1,
  i32: 4,
  u32: 4,
  i64: 8,
};

/** `data` holds exactly elements(shape) · DTYPE_BYTES[dtype] bytes, little-endian. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype === 'f64';
}

/**
 * Number of elements of a shape, checked to stay a safe integer at every step (dimensions from the wire
 * could otherwise overflow to a wrong but plausible product). The empty shape is a scalar (1 element).
 */
export function shapeElements(shape: readonly number[], maxElements = Number.MAX_SAFE_INTEGER): number {
  let elements = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new TensorBoundsError(`shape [${shape.join(', ')}] has an invalid dimension`);
    }
    elements *= dim;
    if (elements > maxElements) throw new LimitExceededError('tensor elements', elements, maxElements);
  }
  return elements;
}

/** Bytes a tensor of this dtype and shape occupies. */
export function tensorByteLength(dtype: DType, shape: readonly number[]): number {
  return shapeElements(shape) * DTYPE_BYTES[dtype];
}

/** Throws TensorBoundsError unless `t.data` has exactly the bytes its dtype and shape call for. */
export function checkTensorBytes(name: string, t: Tensor): void {
  const expected = tensorByteLength(t.dtype, t.shape);
  if (t.data.length !== expected) {
    throw new TensorBoundsError(
      `tensor ${JSON.stringify(name)} (${t.dtype} [${t.shape.join(', ')}]) needs ${expected} bytes, has ${t.data.length}`,
    );
  }
}

type TypedArrayOf = {
  f32: Float32Array;
  f16: Uint16Array;
  bf16: Uint16Array;
  f64: Float64Array;
  i8: Int8Array;
  u8: Uint8Array;
  i32: Int32Array;
  u32: Uint32Array;
  i64: BigInt64Array;
};

type TypedArrayInput = TypedArrayOf[DType];

const TYPED_ARRAY: { [D in DType]: new (buffer: ArrayBuffer) => TypedArrayOf[D] } = {
  f32: Float32Array,
  f16: Uint16Array,
  bf16: Uint16Array,
  f64: Float64Array,
  i8: Int8Array,
  u8: Uint8Array,
  i32: Int32Array,
  u32: Uint32Array,
  i64: BigInt64Array,
};

/** Wraps a copy of a typed array's bytes as a tensor; f16 and bf16 take their raw bits as Uint16Array. */
export function tensorFromTyped<D extends DType>(dtype: D, shape: number[], values: TypedArrayOf[D]): Tensor {
  const data = new Uint8Array(values.byteLength);
  data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  const t: Tensor = { dtype, shape: [...shape], data };
  checkTensorBytes('tensor', t);
  return t;
}

/**
 * Copies a tensor's values into a fresh typed array of its dtype (f16 and bf16 as raw Uint16 bits). The
 * copy makes the result aligned whatever the byte offset of `t.data` inside a frame or file.
 */
export function tensorToTyped<D extends DType>(t: Tensor & { dtype: D }): TypedArrayOf[D] {
  checkTensorBytes('tensor', t);
  const buffer = new ArrayBuffer(t.data.length);
  new Uint8Array(buffer).set(t.data);
  return new TYPED_ARRAY[t.dtype](buffer) as TypedArrayOf[D];
}

export function f32Tensor(shape: number[], values: Float32Array): Tensor {
  return tensorFromTyped('f32', shape, values);
}

/** The values of an f32 tensor, copied. Throws DTypeMismatchError for any other dtype. */
export function tensorToF32(t: Tensor): Float32Array {
  if (t.dtype !== 'f32') throw new DTypeMismatchError(`expected an f32 tensor, got ${t.dtype}`);
  return tensorToTyped(t as Tensor & { dtype: 'f32' });
}

/**
 * The values of an f32 tensor as a view over its bytes when they are 4-byte aligned (a safetensors file
 * of ours always is), else an aligned copy: for a large read-only tensor that must not be held twice (a
 * LoRA base). The view shares the bytes: transferring or changing them changes the tensor. Throws
 * DTypeMismatchError for any other dtype.
 */
export function tensorViewF32(t: Tensor): Float32Array {
  if (t.dtype !== 'f32') throw new DTypeMismatchError(`expected an f32 tensor, got ${t.dtype}`);
  checkTensorBytes('tensor', t);
  return alignedView(t.data, 4, (b, o, n) => new Float32Array(b, o, n));
}

/**
 * A typed view of `data` when it is aligned for the element size, else an aligned copy. Lets checks run
 * over large tensors without copying in the common (aligned) case.
 */
function alignedView<T extends TypedArrayInput>(
  data: Uint8Array,
  elementBytes: number,
  make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => T,
): T {
  const length = data.length / elementBytes;
  if (data.byteOffset % elementBytes === 0) return make(data.buffer, data.byteOffset, length);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return make(copy.buffer, 0, length);
}

/**
 * Index of the first NaN or ±Infinity in a float tensor, or -1 (always -1 for integer dtypes). Tests the
 * exponent bits, so it needs no float conversion for f16 and bf16.
 */
export function findNonFinite(t: Tensor): number {
  switch (t.dtype) {
    case 'f32': {
      const bits = alignedView(t.data, 4, (b, o, n) => new Uint32Array(b, o, n));
      for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
      return -1;
    }
    case 'f64': {
      const values = alignedView(t.data, 8, (b, o, n) => new Float64Array(b, o, n));
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
      return -1;
    }
    case 'f16':
    case 'bf16': {
      const exponent = t.dtype === 'f16' ? 0x7c00 : 0x7f80;
      const bits = alignedView(t.data, 2, (b, o, n) => new Uint16Array(b, o, n));
      for (let i = 0; i < bits.length; i++) if ((bits[i]! & exponent) === exponent) return i;
      return -1;
    }
    default:
      return -1;
  }
}

/** Throws NonFiniteTensorError if a float tensor holds NaN or ±Infinity. */
export function checkFinite(name: string, t: Tensor): void {
  const index = findNonFinite(t);
  if (index >= 0) throw new NonFiniteTensorError(name, index);
}

// ---------------------------------------------------------------------------------------------------------
// IEEE half precision (f16) conversion, for the dense-f16 delta codec.
// ---------------------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 → f16 bits, rounding to nearest with ties to even; overflow gives ±Infinity, NaN stays NaN. */
export function f32ToF16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32Scratch[0] = values[i]!;
    const x = u32Scratch[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    const mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
      continue;
    }
    // Unbiased exponent e; f16 normals have e in [-14, 15], subnormals step by 2^-24.
    const e = exponent - 127;
    if (e > 15) {
      out[i] = sign | 0x7c00;
      continue;
    }
    // Significand with the implicit bit (f32 subnormals are far below f16's range and become zero).
    const significand = exponent === 0 ? 0 : mantissa | 0x800000;
    // Bits of the 24-bit significand that do not fit: 13 for normals, more for subnormals.
    const shift = e >= -14 ? 13 : 13 + (-14 - e);
    if (shift > 24) {
      out[i] = sign;
      continue;
    }
    let half = significand >>> shift;
    const rest = significand - (half << shift);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1) === 1)) half += 1;
    // For normals `half` still holds the implicit bit: adding the biased exponent above it carries a
    // mantissa overflow into the exponent (and 65520 up into Infinity) for free.
    out[i] = e >= -14 ? sign | (((e + 14) << 10) + half) : sign | half;
  }
  return out;
}

/**
 * f16 bits → f32 values (exact: every f16 is representable in f32), into `out` when given (importers
 * convert straight into the destination tensor).
 */
export function f16BitsToF32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) out[i] = mantissa === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1024 + mantissa) * 2 ** (exponent - 25);
  }
  return out;
}
