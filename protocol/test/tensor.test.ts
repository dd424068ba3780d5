import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  f16BitsToF32,
  f32Tensor,
  f32ToF16Bits,
  findNonFinite,
  shapeElements,
  tensorFromTyped,
  tensorToF32,
  tensorToTyped,
} from '../src/index.js';
import { errorName } from './helpers.js';

/** Every finite non-negative f16 value, ascending, as [bits, value]. */
const nonNegativeHalves: [number, number][] = Array.from(
  f16BitsToF32(Uint16Array.from({ length: 0x7c00 }, (_, i) => i)),
)
  .map((value, bits): [number, number] => [bits, value])
  .sort((a, b) => a[1] - b[1]);

/** Round to nearest f16, ties to the even bit pattern, by search over all halves (slow, obvious). */
function referenceF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(x);
  // From 65504 + half an ulp (2^4) on, the value rounds to infinity.
  if (magnitude >= 65504 + 16) return sign | 0x7c00;
  let lo = 0;
  let hi = nonNegativeHalves.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (nonNegativeHalves[mid]![1] <= magnitude) lo = mid;
    else hi = mid;
  }
  const [loBits, loValue] = nonNegativeHalves[lo]!;
  const [hiBits, hiValue] = nonNegativeHalves[hi]!;
  if (magnitude <= loValue) return sign | loBits;
  if (magnitude >= hiValue) return sign | hiBits;
  const dLo = magnitude - loValue;
  const dHi = hiValue - magnitude;
  return sign | (dLo < dHi ? loBits : dHi < dLo ? hiBits : (loBits & 1) === 0 ? loBits : hiBits);
}

describe('f16 conversion', () => {
  it('f16 → f32 → f16 is the identity on every non-NaN bit pattern', () => {
    const bits = Uint16Array.from({ length: 0x10000 }, (_, i) => i).filter((h) => (h & 0x7fff) <= 0x7c00);
    expect(f32ToF16Bits(f16BitsToF32(bits))).toEqual(bits);
  });

  it('decodes known values', () => {
    expect([...f16BitsToF32(Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00))]).toEqual(
      [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity],
    );
    expect(Number.isNaN(f16BitsToF32(Uint16Array.of(0x7e00))[0])).toBe(true);
  });

  it('rounds every f32 to the nearest f16, ties to even, like a brute-force search', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -70000, max: 70000 }), fc.float({ noNaN: true }), (a, b) => {
        for (const x of [a, b, a * 2 ** -20]) {
          const f = Math.fround(x);
          expect(f32ToF16Bits(Float32Array.of(f))[0]).toBe(referenceF16(f));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('rounds halfway cases to even, overflows to infinity, keeps NaN', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: the even neighbour is 1.
    // 65520 is halfway between 65504 and the next (unrepresentable) step: it rounds to infinity.
    const out = f32ToF16Bits(
      Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 65519, 2 ** -25, 3 * 2 ** -26, NaN),
    );
    expect([...out.slice(0, 6)]).toEqual([0x3c00, 0x3c02, 0x7c00, 0x7bff, 0x0000, 0x0001]);
    expect(out[6]! & 0x7c00).toBe(0x7c00);
    expect(out[6]! & 0x3ff).not.toBe(0);
  });
});

describe('tensor helpers', () => {
  it('f32Tensor and tensorToF32 round-trip, also from an unaligned view', () => {
    const values = Float32Array.of(1.5, -2, 3e-40);
    const t = f32Tensor([3], values);
    const shifted = new Uint8Array(t.data.length + 1);
    shifted.set(t.data, 1);
    const unaligned = { ...t, data: shifted.subarray(1) };
    expect(tensorToF32(unaligned)).toEqual(values);
    expect(tensorToF32(t).buffer).not.toBe(t.data.buffer);
  });

  it('typed helpers cover every dtype', () => {
    const i64 = tensorFromTyped('i64', [2], BigInt64Array.of(-1n, 2n ** 40n));
    expect(tensorToTyped(i64)).toEqual(BigInt64Array.of(-1n, 2n ** 40n));
    const i8 = tensorFromTyped('i8', [1, 2], Int8Array.of(-128, 127));
    expect([...i8.data]).toEqual([0x80, 0x7f]);
    expect(errorName(() => tensorFromTyped('u32', [3], Uint32Array.of(1, 2)))).toBe('TensorBoundsError');
    expect(errorName(() => tensorToF32(i8))).toBe('DTypeMismatchError');
  });

  it('findNonFinite finds the first NaN or infinity, also in unaligned data', () => {
    const values = Float64Array.of(1, 2, Infinity, NaN);
    const t = tensorFromTyped('f64', [4], values);
    expect(findNonFinite(t)).toBe(2);
    const shifted = new Uint8Array(t.data.length + 3);
    shifted.set(t.data, 3);
    expect(findNonFinite({ ...t, data: shifted.subarray(3) })).toBe(2);
    expect(findNonFinite(tensorFromTyped('f16', [2], Uint16Array.of(0x7bff, 0xfbff)))).toBe(-1);
    expect(findNonFinite(tensorFromTyped('bf16', [2], Uint16Array.of(0x7f7f, 0x7fc0)))).toBe(1);
    expect(findNonFinite(tensorFromTyped('u32', [1], Uint32Array.of(0x7fc00000)))).toBe(-1);
  });

  it('shapeElements rejects invalid dimensions and overflow', () => {
    expect(shapeElements([])).toBe(1);
    expect(shapeElements([2, 0, 5])).toBe(0);
    expect(errorName(() => shapeElements([2, -1]))).toBe('TensorBoundsError');
    expect(errorName(() => shapeElements([1.5]))).toBe('TensorBoundsError');
    expect(errorName(() => shapeElements([2 ** 27, 2 ** 27]))).toBe('LimitExceededError');
    expect(errorName(() => shapeElements([10, 10], 99))).toBe('LimitExceededError');
  });
});
