/**
 * The robust rules on small hand-made inputs, the sparse rule against the dense one, and the column-wise
 * implementations (dense or sparse held deltas) against the dense reference, bit for bit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  centeredClip,
  compactDelta,
  densify,
  heldDeltaBytes,
  meanAggregate,
  sparseTrimmedMean,
  trimmedMean,
  type HeldDelta,
} from '../src/aggregate.js';
import { naiveMean, naiveSparseTrimmedMean, naiveTrimmedMean } from './aggregate.reference.js';

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

describe('held deltas', () => {
  // Few distinct values, so that columns hold ties, zeros (of both signs) and values on both sides of 0.
  const value = fc.constantFrom(0, 0, 0, -0, 1, -1, 0.5, -2.25, 3, 1e-7, -1e-7, 7.5);
  const vectors = fc
    .record({ n: fc.integer({ min: 1, max: 9 }), size: fc.integer({ min: 1, max: 40 }) })
    .chain(({ n, size }) =>
      fc.array(
        fc.array(value, { minLength: size, maxLength: size }).map((xs) => Float32Array.from(xs)),
        { minLength: n, maxLength: n },
      ),
    );

  it('compact to sparse below half non-zero, and densify back exactly', () => {
    fc.assert(
      fc.property(vectors, (dense) => {
        for (const d of dense) {
          const held = compactDelta(d);
          // Sparse form drops the zeros, -0 included: densified they come back as +0.
          expect(densify(held)).toEqual(held instanceof Float32Array ? d : d.map((x) => (x === 0 ? 0 : x)));
          const nnz = d.filter((x) => x !== 0).length;
          expect(held instanceof Float32Array).toBe(nnz * 2 >= d.length);
          expect(heldDeltaBytes(held)).toBe(held instanceof Float32Array ? 4 * d.length : 8 * nnz);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('every rule gives the dense reference bits, whichever form each delta is held in', () => {
    fc.assert(
      fc.property(vectors, fc.double({ min: 0, max: 0.49, noNaN: true }), (dense, trim) => {
        const size = dense[0]!.length;
        const held: HeldDelta[] = dense.map((d, j) => (j % 2 === 0 ? compactDelta(d) : d));
        expect(meanAggregate(held, size)).toEqual(naiveMean(dense, size));
        expect(trimmedMean(held, size, trim)).toEqual(naiveTrimmedMean(dense, size, trim));
        expect(sparseTrimmedMean(held, size, trim)).toEqual(naiveSparseTrimmedMean(dense, size, trim));
        const start = Float32Array.from({ length: size }, (_, i) => (i % 3) - 1);
        expect(centeredClip(held, start, 1.5, 3)).toEqual(centeredClip(dense, start, 1.5, 3));
      }),
      { numRuns: 300 },
    );
  });
});
