import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  isProtocolError,
  sha256Hex,
  tensorToF32,
  tensorViewF32,
} from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { tensorName, tensorSet } from './arbitraries.js';
import { errorName } from './helpers.js';

const metadataArb = fc.dictionary(
  fc.string({ maxLength: 12, unit: 'binary' }).filter((k) => k !== '__proto__'),
  fc.string({ maxLength: 24, unit: 'binary' }),
  { maxKeys: 4 },
);

/** A safetensors file from header text and data, built by hand from the spec (not by our encoder). */
function file(headerText: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function sameTensors(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  expect(Object.keys(actual)).toEqual(Object.keys(expected).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  for (const [name, t] of Object.entries(expected)) {
    expect(actual[name]!.dtype).toBe(t.dtype);
    expect(actual[name]!.shape).toEqual(t.shape);
    expect([...actual[name]!.data]).toEqual([...t.data]);
  }
}

describe('safetensors round trip', () => {
  it('decode(encode(x)) = x, and the bytes depend only on the content', () => {
    fc.assert(
      fc.property(
        tensorSet.filter((t) => !('__metadata__' in t)),
        metadataArb,
        (tensors, metadata) => {
          const bytes = encodeSafetensors(tensors, metadata);
          const decoded = decodeSafetensors(bytes);
          sameTensors(decoded.tensors, tensors);
          expect(decoded.metadata).toEqual(metadata);
          // Re-encoding content inserted in reverse order gives the same bytes, hence the same digest.
          const reversed = Object.fromEntries(Object.entries(decoded.tensors).reverse());
          const again = encodeSafetensors(reversed, Object.fromEntries(Object.entries(metadata).reverse()));
          expect(sha256Hex(again)).toBe(sha256Hex(bytes));
          expect((8 + new DataView(bytes.buffer).getUint32(0, true)) % 8).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('writes exactly the layout of the spec (checked against a hand-built file)', () => {
    const bias = f32Tensor([2], Float32Array.of(0.5, -2));
    const weight = { dtype: 'i8' as const, shape: [1, 3], data: Int8ArrayBytes([-1, 0, 1]) };
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"weight":{"dtype":"I8","shape":[1,3],"data_offsets":[8,11]}}';
    const padded = header + ' '.repeat(Math.ceil(header.length / 8) * 8 - header.length);
    const data = new Uint8Array(11);
    new DataView(data.buffer).setFloat32(0, 0.5, true);
    new DataView(data.buffer).setFloat32(4, -2, true);
    data.set([0xff, 0x00, 0x01], 8);
    expect(encodeSafetensors({ weight, bias }, { format: 'pt' })).toEqual(file(padded, data));
  });

  it('reads files that are valid but not canonical (any key order, unpadded header, no metadata)', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat32(0, 1.25, true);
    new DataView(data.buffer).setFloat32(4, 3, true);
    const header =
      '{"b":{"data_offsets":[4,8],"shape":[],"dtype":"F32"},"a":{"shape":[1],"dtype":"F32","data_offsets":[0,4]}}';
    const decoded = decodeSafetensors(file(header, data));
    expect(decoded.metadata).toEqual({});
    expect([...tensorToF32(decoded.tensors.a!)]).toEqual([1.25]);
    expect([...tensorToF32(decoded.tensors.b!)]).toEqual([3]);
    expect(decoded.tensors.b!.shape).toEqual([]);
  });

  it('tensorViewF32 shares the file’s bytes when aligned (our files always are), else copies', () => {
    const bytes = encodeSafetensors({
      a: f32Tensor([3], Float32Array.of(1, 2, 3)),
      b: f32Tensor([], Float32Array.of(4)),
    });
    const decoded = decodeSafetensors(bytes);
    const a = tensorViewF32(decoded.tensors.a!);
    expect(a.buffer).toBe(bytes.buffer);
    expect([...a]).toEqual([1, 2, 3]);
    bytes.set(new Uint8Array(Float32Array.of(9).buffer), a.byteOffset);
    expect(a[0]).toBe(9);
    expect(tensorToF32(decoded.tensors.a!).buffer).not.toBe(bytes.buffer);
    // An unpadded header leaves the data at an odd offset: an aligned copy, the same values.
    const data = new Uint8Array(new Float32Array([1.25]).buffer);
    const odd = decodeSafetensors(file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data));
    const copy = tensorViewF32(odd.tensors.a!);
    expect(copy.byteOffset % 4).toBe(0);
    expect([...copy]).toEqual([1.25]);
    expect(() => tensorViewF32({ dtype: 'f16', shape: [1], data: new Uint8Array(2) })).toThrow(
      /expected an f32/,
    );
  });

  it('keeps a tensor named __proto__ as an own entry', () => {
    const t = f32Tensor([1], Float32Array.of(7));
    const decoded = decodeSafetensors(encodeSafetensors(Object.fromEntries([['__proto__', t]])));
    expect(Object.keys(decoded.tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(decoded.tensors)).toBe(Object.prototype);
  });

  it('handles empty tensors and an empty file', () => {
    const empty = { dtype: 'f32' as const, shape: [0, 4], data: new Uint8Array(0) };
    const decoded = decodeSafetensors(
      encodeSafetensors({ a: empty, b: empty, c: f32Tensor([1], Float32Array.of(1)) }),
    );
    expect(decoded.tensors.a!.shape).toEqual([0, 4]);
    expect(decodeSafetensors(encodeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });
});

function Int8ArrayBytes(values: number[]): Uint8Array {
  return new Uint8Array(Int8Array.from(values).buffer);
}

describe('safetensors rejections', () => {
  const four = new Uint8Array(4);
  const entry = (dtype: string, shape: number[], begin: number, end: number) =>
    JSON.stringify({ dtype, shape, data_offsets: [begin, end] });

  it.each([
    ['no header size', new Uint8Array(7), 'TruncatedError'],
    ['header past the end', file('{}').subarray(0, 9), 'TruncatedError'],
    ['data past the end', file(`{"a":${entry('F32', [2], 0, 8)}}`, four), 'TruncatedError'],
    ['u64 header size over 2^32', Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0x7b), 'LimitExceededError'],
    ['header not starting with {', file(' {}'), 'SafetensorsFormatError'],
    ['header not JSON', file('{"a":'), 'SafetensorsFormatError'],
    ['header a JSON array', file('[1]'), 'SafetensorsFormatError'],
    ['unknown dtype', file(`{"a":${entry('F8', [4], 0, 4)}}`, four), 'SafetensorsFormatError'],
    ['lower-case dtype', file(`{"a":${entry('f32', [1], 0, 4)}}`, four), 'SafetensorsFormatError'],
    ['negative dimension', file(`{"a":${entry('U8', [-4], 0, 4)}}`, four), 'SafetensorsFormatError'],
    ['fractional offset', file(`{"a":${entry('U8', [4], 0, 4.5)}}`, four), 'SafetensorsFormatError'],
    [
      'extra entry field',
      file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":1}}`, four),
      'SafetensorsFormatError',
    ],
    [
      'non-string metadata',
      file(`{"__metadata__":{"n":1},"a":${entry('U8', [4], 0, 4)}}`, four),
      'SafetensorsFormatError',
    ],
    ['metadata not an object', file(`{"__metadata__":"x"}`), 'SafetensorsFormatError'],
    ['size not matching shape', file(`{"a":${entry('F32', [2], 0, 4)}}`, four), 'TensorBoundsError'],
    ['reversed offsets', file(`{"a":${entry('U8', [0], 4, 0)}}`, four), 'TensorBoundsError'],
    ['gap', file(`{"a":${entry('U8', [2], 2, 4)}}`, four), 'TensorBoundsError'],
    [
      'overlap',
      file(`{"a":${entry('U8', [3], 0, 3)},"b":${entry('U8', [2], 2, 4)}}`, four),
      'TensorBoundsError',
    ],
    ['unindexed trailing bytes', file(`{"a":${entry('U8', [2], 0, 2)}}`, four), 'TensorBoundsError'],
    [
      'NaN',
      file(`{"a":${entry('F32', [1], 0, 4)}}`, Uint8Array.of(0, 0, 0xc0, 0x7f)),
      'NonFiniteTensorError',
    ],
    [
      '-Infinity in bf16',
      file(`{"a":${entry('BF16', [2], 0, 4)}}`, Uint8Array.of(0, 0, 0x80, 0xff)),
      'NonFiniteTensorError',
    ],
  ])('rejects %s', (_what, bytes, name) => {
    expect(errorName(() => decodeSafetensors(bytes))).toBe(name);
  });

  it('rejects shapes whose element count overflows', () => {
    const bytes = file(`{"a":${entry('U8', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4)}}`, four);
    expect(errorName(() => decodeSafetensors(bytes))).toBe('LimitExceededError');
  });

  it('honours maxBytes, maxHeaderBytes and allowNonFinite', () => {
    const nan = file(`{"a":${entry('F32', [1], 0, 4)}}`, Uint8Array.of(0, 0, 0xc0, 0x7f));
    expect(errorName(() => decodeSafetensors(nan, { allowNonFinite: true, maxBytes: nan.length - 1 }))).toBe(
      'LimitExceededError',
    );
    expect(errorName(() => decodeSafetensors(nan, { allowNonFinite: true, maxHeaderBytes: 8 }))).toBe(
      'LimitExceededError',
    );
    const decoded = decodeSafetensors(nan, { allowNonFinite: true, maxBytes: nan.length });
    expect(Number.isNaN(tensorToF32(decoded.tensors.a!)[0])).toBe(true);
  });

  it('encoder refuses data that does not match the shape, a reserved name and non-string metadata', () => {
    expect(
      errorName(() => encodeSafetensors({ a: { dtype: 'f32', shape: [3], data: new Uint8Array(8) } })),
    ).toBe('TensorBoundsError');
    expect(errorName(() => encodeSafetensors({ __metadata__: f32Tensor([1], Float32Array.of(1)) }))).toBe(
      'SchemaViolationError',
    );
    expect(errorName(() => encodeSafetensors({}, { n: 1 as unknown as string }))).toBe(
      'SchemaViolationError',
    );
  });

  it('never throws anything but protocol errors on mutated files', () => {
    const base = encodeSafetensors(
      {
        a: f32Tensor([2, 2], Float32Array.of(1, 2, 3, 4)),
        b: { dtype: 'u8', shape: [3], data: Uint8Array.of(1, 2, 3) },
      },
      { step: '12' },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(7)), { minLength: 1, maxLength: 4 }),
        fc.nat(base.length),
        (flips, length) => {
          const bytes = base.slice(0, length);
          for (const [at, bit] of flips) if (at < bytes.length) bytes[at] = bytes[at]! ^ (1 << bit);
          try {
            decodeSafetensors(bytes);
          } catch (e) {
            expect(isProtocolError(e)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('tensor names', () => {
  it('any non-empty name survives a round trip', () => {
    fc.assert(
      fc.property(
        tensorName.filter((n) => n !== '__metadata__'),
        (name) => {
          const t = f32Tensor([1], Float32Array.of(1));
          expect(Object.keys(decodeSafetensors(encodeSafetensors({ [name]: t })).tensors)).toEqual([name]);
        },
      ),
      { numRuns: 200 },
    );
  });
});
