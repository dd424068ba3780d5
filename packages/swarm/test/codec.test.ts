import { tensorFromTyped } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { ErrorFeedbackEncoder, decodeDelta, encodeDelta, topkCount, topkIndices } from '../src/codec.js';
import { DeltaDecodeError } from '../src/errors.js';
import { gaussian, rng } from '../bench/synthetic-problem.js';

function randomVector(n: number, seed: number): Float32Array {
  const g = gaussian(rng(seed));
  return Float32Array.from({ length: n }, () => g());
}

describe('delta codecs', () => {
  const v = randomVector(10_000, 1);

  it('dense-f32 is exact and dense-f16 is within half precision', () => {
    expect(
      decodeDelta('dense-f32', encodeDelta(v, { codec: 'dense-f32', topkFraction: 1 }), v.length),
    ).toEqual(v);
    const h = decodeDelta('dense-f16', encodeDelta(v, { codec: 'dense-f16', topkFraction: 1 }), v.length);
    for (let i = 0; i < v.length; i++)
      expect(Math.abs(h[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -11 + 1e-7);
  });

  it('topk-int8 keeps the k largest magnitudes, quantised per block of 64', () => {
    const k = topkCount(v.length, 0.01);
    const d = decodeDelta('topk-int8', encodeDelta(v, { codec: 'topk-int8', topkFraction: 0.01 }), v.length);
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
    const t = encodeDelta(v, { codec: 'topk-int8', topkFraction: 0.01 });
    expect(() => decodeDelta('topk-int8', t, v.length + 1)).toThrow(DeltaDecodeError);
    expect(() => decodeDelta('dense-f32', t, v.length)).toThrow(DeltaDecodeError);
    const outOfRange = { ...t, index_gaps: tensorFromTyped('u8', [3], Uint8Array.of(0xff, 0xff, 0x7f)) };
    expect(() => decodeDelta('topk-int8', outOfRange, v.length)).toThrow(DeltaDecodeError);
    const { scales: _dropped, ...missing } = t;
    expect(() => decodeDelta('topk-int8', missing, v.length)).toThrow(DeltaDecodeError);
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
