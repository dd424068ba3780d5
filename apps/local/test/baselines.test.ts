/** The units of the demo's figures: bits per byte from a model's nats, and from the real xz binary. */
import { describe, expect, it } from 'vitest';
import { bitsPerByte, compressedBitsPerByte } from '../src/bits-per-byte.js';
import { XzFailedError, XzMissingError, xzBaseline, xzCompressedBytes } from '../src/xz-baseline.js';

describe('bits per byte', () => {
  it('turns nats per byte token into bits per byte', () => {
    expect(bitsPerByte(Math.LN2, { kind: 'byte' })).toBeCloseTo(1, 12);
    // A uniform guess over 256 bytes is ln 256 nats: exactly 8 bits per byte.
    expect(bitsPerByte(Math.log(256), { kind: 'byte' })).toBeCloseTo(8, 12);
  });

  it('counts compressed bytes as 8 bits over the text bytes', () => {
    expect(compressedBitsPerByte(100, 800)).toBe(1);
    expect(() => compressedBitsPerByte(10, 0)).toThrow(RangeError);
  });
});

describe('xz baseline', () => {
  const encode = (s: string) => new TextEncoder().encode(s);
  // Text that repeats within itself a little and, across the two parts, a lot.
  const line = (i: number) => `line ${i}: the shared model moves by the merged delta of every peer\n`;
  const training = [encode(Array.from({ length: 200 }, (_, i) => line(i)).join(''))];
  const heldOut = encode(Array.from({ length: 40 }, (_, i) => line(i + 3)).join(''));

  it('runs xz -9e on stdin and counts its output', async () => {
    const bytes = await xzCompressedBytes([heldOut]);
    // An xz stream has a 12-byte header and a 12-byte footer around the compressed block.
    expect(bytes).toBeGreaterThan(24);
    expect(bytes).toBeLessThan(heldOut.byteLength);
    // The parts are one input: splitting it differently does not change the output.
    expect(await xzCompressedBytes([heldOut.subarray(0, 7), heldOut.subarray(7)])).toBe(bytes);
  });

  it('primed with the training text costs far fewer bits than alone', async () => {
    const { xz, xzPrimed } = await xzBaseline({ training, heldOut });
    expect(xz).toBeCloseTo((8 * (await xzCompressedBytes([heldOut]))) / heldOut.byteLength, 12);
    expect(xz).toBeGreaterThan(0);
    expect(xzPrimed).toBeGreaterThan(0);
    expect(xzPrimed).toBeLessThan(xz / 2);
  });

  it('names a missing or failing xz binary', async () => {
    await expect(xzCompressedBytes([heldOut], 'xz-that-is-not-installed')).rejects.toBeInstanceOf(
      XzMissingError,
    );
    // `false` reads nothing and exits 1: a failed run, not a figure.
    await expect(xzCompressedBytes([heldOut], 'false')).rejects.toBeInstanceOf(XzFailedError);
  });
});
