/**
 * Robust aggregation of one round's deltas and the outer (Nesterov) step. Inputs arrive in the canonical
 * merge order (ascending payload digest); every loop walks them in that order and accumulates in f64
 * before one rounding to f32, so peers that accepted the same deltas compute the same bits.
 *
 * Dimension legend: N deltas, P parameters.
 */
import type { AggregationConfig, OuterOptimizer } from '@slimswarm/protocol';
import { l2Norm } from './model.js';

/** Plain mean (P) of deltas [N][P]. */
export function meanAggregate(deltas: readonly Float32Array[], size: number): Float32Array {
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
export function trimmedMean(
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
export function sparseTrimmedMean(
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

/**
 * CenteredClip (Karimireddy, He & Jaggi 2021): v ← v + (1/N)·Σ (xⱼ − v)·min(1, τ/‖xⱼ − v‖), started
 * from `start` (the caller passes the history: (1−μ)·outer momentum, an EMA of past aggregates).
 */
export function centeredClip(
  deltas: readonly Float32Array[],
  start: Float32Array,
  tau: number,
  iterations: number,
): Float32Array {
  const size = start.length;
  const n = deltas.length;
  let v = Float32Array.from(start); // [P]
  const diff = new Float32Array(size); // [P]
  for (let it = 0; it < iterations; it++) {
    const acc = new Float64Array(size); // [P]
    for (let j = 0; j < n; j++) {
      const x = deltas[j]!;
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
  deltas: readonly Float32Array[],
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
