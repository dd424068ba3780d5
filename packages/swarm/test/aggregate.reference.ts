/**
 * The robust rules over dense vectors, one coordinate at a time, with the library sort: the reference
 * the column-wise implementations in src/aggregate.ts (which also take sparse deltas) must match bit for
 * bit. Equal values are the same number, so the sorted sums do not depend on the sort.
 *
 * Dimension legend: N deltas, P parameters.
 */

/** Coordinate i of every delta, in delta order. */
const column = (deltas: readonly Float32Array[], i: number) => deltas.map((d) => d[i]!);
const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);
const ascending = (a: number, b: number) => a - b;

export function naiveMean(deltas: readonly Float32Array[], size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => sum(column(deltas, i)) / deltas.length);
}

/** Drops floor(trim·N) smallest and largest values of every coordinate, zeros included. */
export function naiveTrimmedMean(deltas: readonly Float32Array[], size: number, trim: number): Float32Array {
  const n = deltas.length;
  const cut = Math.floor(trim * n);
  return Float32Array.from({ length: size }, (_, i) => {
    const sorted = column(deltas, i).sort(ascending);
    return sum(sorted.slice(cut, n - cut)) / (n - 2 * cut);
  });
}

/** Of the c deltas with a non-zero value drops floor(trim·c) per end, averages, scales by c/N. */
export function naiveSparseTrimmedMean(
  deltas: readonly Float32Array[],
  size: number,
  trim: number,
): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => {
    const sent = column(deltas, i)
      .filter((x) => x !== 0)
      .sort(ascending);
    const c = sent.length;
    if (c === 0) return 0;
    const cut = Math.floor(trim * c);
    return (sum(sent.slice(cut, c - cut)) / (c - 2 * cut)) * (c / deltas.length);
  });
}
