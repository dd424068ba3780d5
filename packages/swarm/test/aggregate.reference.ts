/**
 * The robust rules over dense vectors, one coordinate at a time, as first written: the reference the
 * column-wise implementations in src/aggregate.ts (which also take sparse deltas) must match bit for bit.
 *
 * Dimension legend: N deltas, P parameters.
 */
/** Plain mean (P) of deltas [N][P]. */
export function naiveMean(deltas: readonly Float32Array[], size: number): Float32Array {
  const out = new Float32Array(size); // [P]
  const n = deltas.length;
  for (let i = 0; i < size; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += deltas[j]![i]!;
    out[i] = s / n;
  }
  return out;
}

/** Coordinate-wise trimmed mean: drop floor(trim·N) smallest and largest values per coordinate. */
export function naiveTrimmedMean(
  deltas: readonly Float32Array[],
  size: number,
  trimFraction: number,
): Float32Array {
  const n = deltas.length;
  const cut = Math.floor(trimFraction * n);
  const out = new Float32Array(size); // [P]
  const col = new Float64Array(n); // [N] one coordinate across deltas
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < n; j++) {
      // Insertion sort: N is small (peers per round) and the result does not depend on the algorithm.
      const x = deltas[j]![i]!;
      let k = j - 1;
      while (k >= 0 && col[k]! > x) {
        col[k + 1] = col[k]!;
        k--;
      }
      col[k + 1] = x;
    }
    let s = 0;
    for (let j = cut; j < n - cut; j++) s += col[j]!;
    out[i] = s / (n - 2 * cut);
  }
  return out;
}

/**
 * Coordinate-wise trimmed mean over the deltas that sent each coordinate (non-zero values): of the c
 * senders drop floor(trim·c) smallest and largest, average the rest, and scale by c/N, so that with
 * nothing trimmed it equals the plain mean (where a peer that did not send a coordinate counts as 0).
 * Top-k deltas overlap little; the dense rule treats every non-sender's 0 as a vote and trims the few
 * real values away. The price: a value only one peer sent is never trimmed (the norm bound limits it).
 */
export function naiveSparseTrimmedMean(
  deltas: readonly Float32Array[],
  size: number,
  trimFraction: number,
): Float32Array {
  const n = deltas.length;
  const out = new Float32Array(size); // [P]
  const col = new Float64Array(n); // [N] the senders' values of one coordinate, sorted
  for (let i = 0; i < size; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      const x = deltas[j]![i]!;
      if (x === 0) continue;
      let k = c - 1;
      while (k >= 0 && col[k]! > x) {
        col[k + 1] = col[k]!;
        k--;
      }
      col[k + 1] = x;
      c++;
    }
    if (c === 0) continue;
    const cut = Math.floor(trimFraction * c);
    let s = 0;
    for (let j = cut; j < c - cut; j++) s += col[j]!;
    out[i] = (s / (c - 2 * cut)) * (c / n);
  }
  return out;
}
