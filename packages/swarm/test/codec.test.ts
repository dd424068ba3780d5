import { tensorFromTyped, type Tensor } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import {
  ErrorFeedbackEncoder,
  QUANT_BLOCK,
  decodeDelta,
  encodeDelta,
  topkCount,
  topkIndices,
  type CodecTensors,
} from '../src/codec.js';
import { DeltaDecodeError } from '../src/errors.js';
import { gaussian, rng } from '../bench/synthetic-problem.js';

function randomVector(n: number, seed: number): Float32Array {
  const g = gaussian(rng(seed));
  return Float32Array.from({ length: n }, () => g());
}

describe('delta codecs', () => {
  const v = randomVector(10_000, 1);

  it('dense-f32 is exact and dense-f16 is within half precision', () => {
    const shape = { params: v.length, topkFraction: 0.01 };
    expect(decodeDelta('dense-f32', encodeDelta(v, { codec: 'dense-f32', topkFraction: 1 }), shape)).toEqual(
      v,
    );
    const h = decodeDelta('dense-f16', encodeDelta(v, { codec: 'dense-f16', topkFraction: 1 }), shape);
    for (let i = 0; i < v.length; i++)
      expect(Math.abs(h[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -11 + 1e-7);
  });

  it('topk-int8 keeps the k largest magnitudes, quantised per block of 64', () => {
    const k = topkCount(v.length, 0.01);
    const d = decodeDelta('topk-int8', encodeDelta(v, { codec: 'topk-int8', topkFraction: 0.01 }), {
      params: v.length,
      topkFraction: 0.01,
    });
    const kept = [...d.keys()].filter((i) => d[i] !== 0);
    expect(kept.length).toBeLessThanOrEqual(k);
    const threshold = [...v].map(Math.abs).sort((a, b) => b - a)[k - 1]!;
    for (const i of kept) expect(Math.abs(v[i]!)).toBeGreaterThanOrEqual(threshold);
    for (const i of kept)
      expect(Math.abs(d[i]! - v[i]!)).toBeLessThanOrEqual((Math.abs(v[i]!) / 127) * 1.01 + threshold / 127);
  });

  it('breaks magnitude ties by the lower index, so every peer picks the same coordinates', () => {
    expect([...topkIndices(Float32Array.of(1, -2, 2, 2, 0), 2)]).toEqual([1, 2]);
  });

  it('refuses payloads that do not fit', () => {
    const shape = { params: v.length, topkFraction: 0.01 };
    const t = encodeDelta(v, { codec: 'topk-int8', topkFraction: 0.01 });
    expect(() => decodeDelta('topk-int8', t, { ...shape, params: v.length + 1 })).toThrow(DeltaDecodeError);
    expect(() => decodeDelta('dense-f32', t, shape)).toThrow(DeltaDecodeError);
    const outOfRange = { ...t, index_gaps: tensorFromTyped('u8', [3], Uint8Array.of(0xff, 0xff, 0x7f)) };
    expect(() => decodeDelta('topk-int8', outOfRange, shape)).toThrow(DeltaDecodeError);
    const { scales: _dropped, ...missing } = t;
    expect(() => decodeDelta('topk-int8', missing, shape)).toThrow(DeltaDecodeError);
  });
  it('error feedback: what was not sent is carried into the next round, and only once committed', () => {
    const enc = new ErrorFeedbackEncoder(v.length, {
      codec: 'topk-int8',
      topkFraction: 0.01,
      errorFeedback: true,
    });
    const first = enc.encode(v);
    expect(enc.residualNorm()).toBe(0); // not committed yet
    first.commit();
    const sentNorm = Math.hypot(...first.sent);
    const fullNorm = Math.hypot(...v);
    expect(enc.residualNorm()).toBeGreaterThan(0.9 * Math.sqrt(fullNorm ** 2 - sentNorm ** 2));
    // With no new delta, repeated rounds drain the residual: nothing is lost, only delayed.
    let total = Float64Array.from(first.sent);
    for (let r = 0; r < 400; r++) {
      const next = enc.encode(new Float32Array(v.length));
      next.commit();
      total = total.map((x, i) => x + next.sent[i]!);
    }
    let err = 0;
    for (let i = 0; i < v.length; i++) err = Math.max(err, Math.abs(total[i]! - v[i]!));
    expect(err).toBeLessThan(0.05);
  });
});

/** The codec refuses every payload the encoder would not have produced for the job's P and fraction. */
describe('codec shape checks', () => {
  const P = 1000;
  const fraction = 0.05; // k = 50
  const shape = { params: P, topkFraction: fraction };
  const k = topkCount(P, fraction);
  const v = randomVector(P, 2);
  const topk = () => encodeDelta(v, { codec: 'topk-int8', topkFraction: fraction });
  const refused = (codec: Parameters<typeof decodeDelta>[0], tensors: CodecTensors, message: RegExp) =>
    expect(() => decodeDelta(codec, tensors, shape)).toThrow(
      expect.objectContaining({ name: 'DeltaDecodeError', message: expect.stringMatching(message) }),
    );
  /** Gap bytes for ascending indices, as the encoder writes them. */
  const gapsOf = (indices: number[]) => {
    const out: number[] = [];
    let prev = 0;
    for (const i of indices) {
      let gap = i - prev;
      prev = i;
      while (gap >= 0x80) {
        out.push((gap & 0x7f) | 0x80);
        gap >>>= 7;
      }
      out.push(gap);
    }
    return tensorFromTyped('u8', [out.length], Uint8Array.from(out));
  };
  const ascending = Array.from({ length: k }, (_, j) => j * 7);

  it('accepts exactly what the encoder produces for the job', () => {
    expect(k).toBe(50);
    const t = topk();
    expect(t.values!.shape).toEqual([k]);
    expect(t.scales!.shape).toEqual([Math.ceil(k / QUANT_BLOCK)]);
    expect(decodeDelta('topk-int8', t, shape).filter((x) => x !== 0).length).toBeLessThanOrEqual(k);
    expect(decodeDelta('topk-int8', { ...topk(), index_gaps: gapsOf(ascending) }, shape)).toHaveLength(P);
  });

  it('a dense delta disguised as top-k (every coordinate kept) is refused', () => {
    const dense = encodeDelta(v, { codec: 'topk-int8', topkFraction: 1 });
    expect(dense.values!.shape).toEqual([P]);
    // It decodes under a job whose fraction is 1, and under this job it does not.
    expect(decodeDelta('topk-int8', dense, { params: P, topkFraction: 1 })).toHaveLength(P);
    refused('topk-int8', dense, /values: expected i8 \[50\]/);
    // One value too few or too many is refused as well.
    const fewer = encodeDelta(v, { codec: 'topk-int8', topkFraction: (k - 1) / P });
    refused('topk-int8', fewer, /values: expected i8 \[50\]/);
    const more = encodeDelta(v, { codec: 'topk-int8', topkFraction: (k + 1) / P });
    refused('topk-int8', more, /values: expected i8 \[50\]/);
  });

  it('refuses other tensor names, dtypes, ranks and lengths', () => {
    const t = topk();
    refused(
      'topk-int8',
      { ...t, extra: tensorFromTyped('u8', [1], Uint8Array.of(0)) },
      /exactly the tensors/,
    );
    refused(
      'topk-int8',
      { ...t, values: tensorFromTyped('u8', [k], new Uint8Array(k)) },
      /values: expected i8/,
    );
    refused('topk-int8', { ...t, values: tensorFromTyped('i8', [5, 10], new Int8Array(k)) }, /values/);
    refused(
      'topk-int8',
      { ...t, scales: tensorFromTyped('f32', [2], new Float32Array(2)) },
      /scales: expected f32 \[1\]/,
    );
    refused(
      'topk-int8',
      { ...t, size: tensorFromTyped('u32', [2], Uint32Array.of(P, P)) },
      /size: expected u32 \[1\]/,
    );
    refused('topk-int8', { ...t, size: tensorFromTyped('u32', [1], Uint32Array.of(P + 1)) }, /another size/);
    // Fewer index bytes than values, or more than the longest varints of P could take.
    refused(
      'topk-int8',
      { ...t, index_gaps: tensorFromTyped('u8', [k - 1], new Uint8Array(k - 1)) },
      /index_gaps/,
    );
    refused(
      'topk-int8',
      { ...t, index_gaps: tensorFromTyped('u8', [2 * k + 1], new Uint8Array(2 * k + 1)) },
      /index_gaps/,
    );
    const dense = encodeDelta(v, { codec: 'dense-f32', topkFraction: 1 });
    refused(
      'dense-f32',
      { ...dense, values: tensorFromTyped('f32', [P - 1], new Float32Array(P - 1)) },
      /values: expected f32 \[1000\]/,
    );
    refused(
      'dense-f32',
      { ...dense, values: tensorFromTyped('f16', [P], new Uint16Array(P)) },
      /values: expected f32/,
    );
    const half = encodeDelta(v, { codec: 'dense-f16', topkFraction: 1 });
    refused(
      'dense-f16',
      { ...half, values: tensorFromTyped('f16', [P + 1], new Uint16Array(P + 1)) },
      /values: expected f16 \[1000\]/,
    );
    refused('dense-f16', dense, /values: expected f16/);
  });

  it('checks a claimed length before it converts or allocates anything of that length', () => {
    // A tensor whose shape claims 2^30 values but carries 4 bytes: refused by its shape, not after a copy.
    const huge: Tensor = { dtype: 'f32', shape: [2 ** 30], data: new Uint8Array(4) };
    const dense = encodeDelta(v, { codec: 'dense-f32', topkFraction: 1 });
    refused('dense-f32', { ...dense, values: huge }, /values: expected f32 \[1000\]/);
    refused('topk-int8', { ...topk(), values: { ...huge, dtype: 'i8' } }, /values: expected i8 \[50\]/);
  });

  it('refuses indices out of range, not strictly ascending, padded or trailing', () => {
    const t = topk();
    refused(
      'topk-int8',
      { ...t, index_gaps: gapsOf([...ascending.slice(0, k - 1), P]) },
      /index 1000 out of range/,
    );
    const repeated = [...ascending.slice(0, k - 1), ascending[k - 2]!];
    refused('topk-int8', { ...t, index_gaps: gapsOf(repeated) }, /strictly ascending/);
    // Gap 7 written as the two bytes 0x87 0x00 instead of 0x07.
    const padded = [...gapsOf(ascending).data];
    padded.splice(1, 1, 0x87, 0x00);
    refused(
      'topk-int8',
      { ...t, index_gaps: tensorFromTyped('u8', [padded.length], Uint8Array.from(padded)) },
      /not minimal/,
    );
    const trailing = [...gapsOf(ascending).data, 1];
    refused(
      'topk-int8',
      { ...t, index_gaps: tensorFromTyped('u8', [trailing.length], Uint8Array.from(trailing)) },
      /trailing bytes/,
    );
  });

  it('refuses int8 −128, and scales that are negative or not finite', () => {
    const t = topk();
    const q = new Int8Array(k).fill(1);
    q[3] = -128;
    refused('topk-int8', { ...t, values: tensorFromTyped('i8', [k], q) }, /−128/);
    refused('topk-int8', { ...t, scales: tensorFromTyped('f32', [1], Float32Array.of(-1)) }, /scale/);
    refused('topk-int8', { ...t, scales: tensorFromTyped('f32', [1], Float32Array.of(NaN)) }, /scale/);
  });
});
