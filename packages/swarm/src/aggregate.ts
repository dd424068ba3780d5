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

/** Sorts values[from … to) ascending into `col` and returns how many there are (O(c log c)). */
function sortColumn(values: Float32Array, from: number, to: number, col: Float64Array): number {
  const c = to - from;
  col.set(values.subarray(from, to));
  // Numeric order; the values are non-zero and finite, so the sorted column is the same on every engine.
  col.subarray(0, c).sort();
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
 * senders drop floor(trim·c) smallest and largest — at least `minTrim` wherever c > 2·minTrim, so a
 * coordinate few peers sent is still trimmed — average the rest, and scale by c/N, so that with nothing
 * trimmed it equals the plain mean (where a peer that did not send a coordinate counts as 0). Top-k deltas
 * overlap little; the dense rule treats every non-sender's 0 as a vote and trims the few real values away.
 * The price: a value only one or two peers sent is never trimmed (clipToRound bounds it).
 */
export function sparseTrimmedMean(
  deltas: readonly HeldDelta[],
  size: number,
  trimFraction: number,
  minTrim = 0,
): Float32Array {
  const n = deltas.length;
  const { offsets, values } = columns(deltas, size);
  const out = new Float32Array(size); // [P]
  const col = new Float64Array(n); // [N] the senders' values of one coordinate, sorted
  for (let i = 0; i < size; i++) {
    const c = sortColumn(values, offsets[i]!, offsets[i + 1]!, col);
    if (c === 0) continue;
    const proportional = Math.floor(trimFraction * c);
    const cut = c > 2 * minTrim ? Math.max(minTrim, proportional) : proportional;
    let s = 0;
    for (let j = cut; j < c - cut; j++) s += col[j]!;
    out[i] = (s / (c - 2 * cut)) * (c / n);
  }
  return out;
}

/** The median of `xs` (at least one), the mean of the middle two for an even count. */
function median(xs: readonly number[]): number {
  const sorted = Float64Array.from(xs).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function heldValues(d: HeldDelta): Float32Array {
  return d instanceof Float32Array ? d : d.values;
}

/**
 * Bounds each delta by the round itself rather than by a constant: its L2 norm to `normClip` × the median
 * delta norm, then every coordinate to ± `valueClip` × the median of the deltas' largest |coordinate|.
 * With fewer than half the deltas hostile both medians are bounded by honest deltas, so no delta can
 * weigh more than a few honest ones in norm, nor on any single coordinate. Sparsity is kept.
 */
export function clipToRound(deltas: readonly HeldDelta[], normClip: number, valueClip: number): HeldDelta[] {
  if (deltas.length === 0) return [];
  const norms = deltas.map((d) => l2Norm(heldValues(d)));
  const normCap = normClip * median(norms);
  const scales = norms.map((norm) => (norm > normCap ? normCap / norm : 1));
  const maxAbs = deltas.map((d, j) => {
    let m = 0;
    for (const x of heldValues(d)) m = Math.max(m, Math.abs(x));
    return m * scales[j]!;
  });
  const cap = valueClip * median(maxAbs);
  return deltas.map((d, j) => {
    const scale = scales[j]!;
    const values = Float32Array.from(heldValues(d), (x) => Math.min(cap, Math.max(-cap, x * scale)));
    return d instanceof Float32Array ? values : { size: d.size, indices: d.indices, values };
  });
}

/**
 * The influence bound (docs/swarm-protocol.md §5b). The coordinate-wise median of the deltas clipped to the
 * round (clipToRound), non-senders counted as 0, is a reference that fewer than half of them cannot capture; the deltas that do not
 * agree with it (cosine ≤ minAgreement: reversed, orthogonal or diluting) are left out; the rest are
 * clipped to their own round again and averaged by the trimmed mean over each coordinate's senders. When
 * every hostile delta is left out the step is exactly the one the honest deltas alone would give. Fewer
 * than minContributors deltas kept: the step is damped by kept/minContributors.
 */
export function clippedTrimmedMean(
  deltas: readonly HeldDelta[],
  size: number,
  rule: Extract<AggregationConfig, { rule: 'clipped-trimmed-mean' }>,
): Float32Array {
  const clip = (ds: readonly HeldDelta[]) => clipToRound(ds, rule.normClip, rule.valueClip);
  // Dense: a peer that did not send a coordinate votes 0 there, so f < N/2 coherent deltas cannot win the
  // median of the coordinates few honest peers sent.
  const reference = trimmedMean(clip(deltas), size, MEDIAN_TRIM); // [P]
  const referenceNorm = l2Norm(reference);
  // Below minContributors no majority makes the reference honest: nobody is left out, the step is damped.
  const judge = referenceNorm > 0 && deltas.length >= rule.minContributors;
  const kept = judge ? deltas.filter((d) => cosine(d, reference, referenceNorm) > rule.minAgreement) : deltas;
  const a =
    kept.length === 0
      ? new Float32Array(size)
      : sparseTrimmedMean(clip(kept), size, rule.trimFraction, rule.minTrim);
  const damping = Math.min(1, kept.length / rule.minContributors);
  if (damping < 1) for (let i = 0; i < size; i++) a[i] = a[i]! * damping;
  return a;
}

/** A trim fraction that keeps only the middle one or two of a coordinate's senders: their median. */
const MEDIAN_TRIM = 0.4999;

/** cos(d, r) with ‖r‖ given, accumulated in f64 in index order. */
function cosine(d: HeldDelta, r: Float32Array, rNorm: number): number {
  let dot = 0;
  forEachNonZero(d, (i, x) => (dot += x * r[i]!));
  const n = l2Norm(heldValues(d));
  return n === 0 ? 0 : dot / (n * rNorm);
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
    case 'clipped-trimmed-mean':
      return clippedTrimmedMean(deltas, size, rule);
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
