/** The robust rules on small hand-made inputs, and the sparse rule against the dense one. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meanAggregate, sparseTrimmedMean, trimmedMean } from '../src/aggregate.js';

const f32 = (...xs: number[]) => Float32Array.from(xs);

describe('trimmed means', () => {
  it('dense: drops the extremes of every coordinate, zeros included', () => {
    const deltas = [f32(1, 0), f32(2, 0), f32(3, 0), f32(100, 0), f32(-50, 8)];
    // Cut 1 per end of 5: coordinate 0 keeps 1, 2, 3; coordinate 1 keeps three zeros and loses the 8.
    expect([...trimmedMean(deltas, 2, 0.2)]).toEqual([2, 0]);
  });

  it('sparse: trims among the senders only and scales by how many sent', () => {
    // Coordinate 0: five senders, cut 1 per end → mean(1, 2, 3) · 5/5. Coordinate 1: one sender, nothing
    // to trim → 8 · 1/5. Coordinate 2: nobody sent it.
    const deltas = [f32(1, 0, 0), f32(2, 0, 0), f32(3, 0, 0), f32(100, 0, 0), f32(-50, 8, 0)];
    expect([...sparseTrimmedMean(deltas, 3, 0.2)]).toEqual([2, Math.fround(8 / 5), 0]);
  });

  it('sparse equals dense when every delta sends every coordinate, and the mean when nothing is cut', () => {
    const nonZero = fc
      .float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true })
      .filter((x) => x !== 0);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 9 })
          .chain((n) =>
            fc.tuple(
              fc.array(fc.array(nonZero, { minLength: 6, maxLength: 6 }), { minLength: n, maxLength: n }),
            ),
          ),
        fc.double({ min: 0, max: 0.49, noNaN: true }),
        ([rows], trim) => {
          const deltas = rows.map((r) => Float32Array.from(r));
          expect(sparseTrimmedMean(deltas, 6, trim)).toEqual(trimmedMean(deltas, 6, trim));
          const sparse = deltas.map((d, j) => d.map((x, i) => ((i + j) % 3 === 0 ? 0 : x)));
          const means = meanAggregate(sparse, 6);
          sparseTrimmedMean(sparse, 6, 0).forEach((x, i) => expect(x).toBeCloseTo(means[i]!, 5));
        },
      ),
      { numRuns: 200 },
    );
  });
});
