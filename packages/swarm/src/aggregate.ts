/**
 * Robust aggregation of one round's deltas and the outer (Nesterov) step. Inputs arrive in the canonical
 * merge order (ascending payload digest); every loop walks them in that order and accumulates in f64
 * before one rounding to f32, so peers that accepted the same deltas compute the same bits.
 *
 * Dimension legend: N deltas, P parameters.
 */
import type { AggregationConfig, OuterOptimizer } from '@slimswarm/protocol';
import { l2Norm } from './model-layout.js';

/**
 * A delta as a peer holds it until its round closes: dense (P), or the ascending indices and the values of
 * its non-zero coordinates — a top-k delta keeps k of P, so N peers' deltas no longer cost N·P floats.
 */
export type HeldDelta = Float32Array | SparseDelta;

export interface SparseDelta {
  size: number;
  indices: Uint32Array; // [nnz] ascending
  values: Float32Array; // [nnz] all non-zero
}

/** The smaller form of `dense`: sparse while fewer than half of its coordinates are non-zero. */
export function compactDelta(dense: Float32Array): HeldDelta {
  let nnz = 0;
  for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) nnz++;
  if (nnz * 2 >= dense.length) return dense;
  const indices = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  for (let i = 0, k = 0; i < dense.length; i++) {
    if (dense[i] === 0) continue;
    indices[k] = i;
    values[k++] = dense[i]!;
  }
  return { size: dense.length, indices, values };
}

/** Bytes a held delta takes. */
export function heldDeltaBytes(d: HeldDelta): number {
  return d instanceof Float32Array ? d.byteLength : d.indices.byteLength + d.values.byteLength;
}

/** The delta as a dense vector (P), written into `out` when given. */
export function densify(d: HeldDelta, out?: Float32Array): Float32Array {
  if (d instanceof Float32Array) {
    if (!out) return Float32Array.from(d);
    out.set(d);
    return out;
  }
  const dense = out ?? new Float32Array(d.size);
  dense.fill(0);
  for (let k = 0; k < d.indices.length; k++) dense[d.indices[k]!] = d.values[k]!;
  return dense;
}

/** Calls `fn` for every non-zero coordinate of `d`, in ascending index order. */
function forEachNonZero(d: HeldDelta, fn: (index: number, value: number) => void): void {
  if (d instanceof Float32Array) {
    for (let i = 0; i < d.length; i++) if (d[i] !== 0) fn(i, d[i]!);
  } else {
    for (let k = 0; k < d.indices.length; k++) fn(d.indices[k]!, d.values[k]!);
  }
}

/**
 * Every coordinate's non-zero values across the deltas, in delta order: coordinate i's are
 * values[offsets[i] … offsets[i + 1]). A zero adds nothing to an f64 sum, so skipping zeros leaves every
 * rule's bits as they were over the dense vectors.
 */
function columns(deltas: readonly HeldDelta[], size: number) {
  const offsets = new Uint32Array(size + 1); // [P + 1]
  // Counts shifted by one, then prefix sums.
  for (const d of deltas) forEachNonZero(d, (i) => (offsets[i + 1] = offsets[i + 1]! + 1));
  for (let i = 0; i < size; i++) offsets[i + 1] = offsets[i + 1]! + offsets[i]!;
  const next = offsets.slice(0, size); // [P] where coordinate i's next value goes
  const values = new Float32Array(offsets[size]!); // [nnz over all deltas]
  for (const d of deltas) {
    forEachNonZero(d, (i, x) => {
      values[next[i]!] = x;
      next[i] = next[i]! + 1;
    });
  }
  return { offsets, values };
}

/** Sorts values[from … to) ascending into `col` and returns how many there are. */
function sortColumn(values: Float32Array, from: number, to: number, col: Float64Array): number {
  let c = 0;
  for (let p = from; p < to; p++) {
    // Insertion sort: N is small (peers per round) and the sorted values do not depend on the algorithm.
    const x = values[p]!;
    let k = c - 1;
    while (k >= 0 && col[k]! > x) {
      col[k + 1] = col[k]!;
      k--;
    }
    col[k + 1] = x;
    c++;
  }
  return c;
}

/** Plain mean (P) of N deltas. */
export function meanAggregate(deltas: readonly HeldDelta[], size: number): Float32Array {
  const { offsets, values } = columns(deltas, size);
  const out = new Float32Array(size); // [P]
  for (let i = 0; i < size; i++) {
    let s = 0;
    for (let p = offsets[i]!; p < offsets[i + 1]!; p++) s += values[p]!;
    out[i] = s / deltas.length;
  }
  return out;
}

/**
 * Coordinate-wise trimmed mean: drop floor(trim·N) smallest and largest values per coordinate, where a
 * delta that does not send a coordinate counts as a 0.
 */
export function trimmedMean(deltas: readonly HeldDelta[], size: number, trimFraction: number): Float32Array {
  const n = deltas.length;
  const cut = Math.floor(trimFraction * n);
  const { offsets, values } = columns(deltas, size);
  const out = new Float32Array(size); // [P]
  const col = new Float64Array(n); // [N] one coordinate's non-zero values, sorted
  for (let i = 0; i < size; i++) {
    const c = sortColumn(values, offsets[i]!, offsets[i + 1]!, col);
    // The sorted column is col's negatives, then n − c zeros, then col's positives.
    const zeros = n - c;
    let negatives = 0;
    while (negatives < c && col[negatives]! < 0) negatives++;
    let s = 0;
    for (let p = cut; p < n - cut; p++) {
      if (p < negatives) s += col[p]!;
      else if (p >= negatives + zeros) s += col[p - zeros]!;
    }
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
export function sparseTrimmedMean(
  deltas: readonly HeldDelta[],
  size: number,
  trimFraction: number,
): Float32Array {
  const n = deltas.length;
  const { offsets, values } = columns(deltas, size);
  const out = new Float32Array(size); // [P]
  const col = new Float64Array(n); // [N] the senders' values of one coordinate, sorted
  for (let i = 0; i < size; i++) {
    const c = sortColumn(values, offsets[i]!, offsets[i + 1]!, col);
    if (c === 0) continue;
    const cut = Math.floor(trimFraction * c);
    let s = 0;
    for (let j = cut; j < c - cut; j++) s += col[j]!;
    out[i] = (s / (c - 2 * cut)) * (c / n);
  }
  return out;
}

/**
 * CenteredClip (Karimireddy, He & Jaggi 2021): v ← v + (1/N)·Σ (xⱼ − v)·min(1, τ/‖xⱼ − v‖), started
 * from `start` (the caller passes the history: (1−μ)·outer momentum, an EMA of past aggregates).
 */
export function centeredClip(
  deltas: readonly HeldDelta[],
  start: Float32Array,
  tau: number,
  iterations: number,
): Float32Array {
  const size = start.length;
  const n = deltas.length;
  let v = Float32Array.from(start); // [P]
  const x = new Float32Array(size); // [P] one delta, dense
  const diff = new Float32Array(size); // [P]
  for (let it = 0; it < iterations; it++) {
    const acc = new Float64Array(size); // [P]
    for (let j = 0; j < n; j++) {
      densify(deltas[j]!, x);
      for (let i = 0; i < size; i++) diff[i] = x[i]! - v[i]!;
      const w = Math.min(1, tau / Math.max(l2Norm(diff), Number.MIN_VALUE));
      for (let i = 0; i < size; i++) acc[i] = acc[i]! + diff[i]! * w;
    }
    const next = new Float32Array(size);
    for (let i = 0; i < size; i++) next[i] = v[i]! + acc[i]! / n;
    v = next;
  }
  return v;
}

/** Applies the manifest's robust rule to deltas that already passed the norm bound. */
export function aggregate(
  rule: AggregationConfig,
  deltas: readonly HeldDelta[],
  momentum: Float32Array,
  outer: OuterOptimizer,
): Float32Array {
  const size = momentum.length;
  switch (rule.rule) {
    case 'mean':
      return meanAggregate(deltas, size);
    case 'trimmed-mean':
      return trimmedMean(deltas, size, rule.trimFraction);
    case 'sparse-trimmed-mean':
      return sparseTrimmedMean(deltas, size, rule.trimFraction);
    case 'centered-clip': {
      const start = new Float32Array(size); // [P]
      for (let i = 0; i < size; i++) start[i] = (1 - outer.momentum) * momentum[i]!;
      return centeredClip(deltas, start, rule.tau, rule.iterations);
    }
  }
}

/**
 * Nesterov outer step on the pseudo-gradient a (DiLoCo): m ← μ·m + a; g ← g − lr·(a + μ·m).
 * Updates weights and momentum in place.
 */
export function nesterovStep(
  weights: Float32Array,
  momentum: Float32Array,
  a: Float32Array,
  outer: OuterOptimizer,
): void {
  const { lr, momentum: mu } = outer;
  for (let i = 0; i < weights.length; i++) {
    const m = Math.fround(mu * momentum[i]! + a[i]!);
    momentum[i] = m;
    weights[i] = weights[i]! - lr * (a[i]! + mu * m);
  }
}
