/**
 * What the live attacker sends each round, as the delta Δ it wants the swarm to merge (the attacker then
 * contributes local weights w = g_r − Δ, so that the swarm's Δ = g_r − w is exactly this vector). Both are
 * scaled to `SAFETY` × the job's normBound, so that every receiver's norm check passes:
 *
 *   gaussian    N(0, 1) on a fresh random `fraction` of the P coordinates (5 %: the default job's top-k
 *               share, so the codec sends all of it), scaled to 0.99·normBound
 *   sign-flip   the honest direction reversed: the swarm moves by g_r − g_{r−1} = −lr·(Δ̄ + momentum), so
 *               the honest deltas point along −(g_r − g_{r−1}); the attacker sends
 *               −0.99·normBound · (−(g_r − g_{r−1}))/‖·‖, restricted to its largest `fraction` of
 *               coordinates for a top-k job (what the codec would keep anyway; the rest would pile up in
 *               the error-feedback residual and later break the norm bound)
 *
 * Vectors are flat over the tensors in sorted name order (P values); `unflatten` maps them back.
 */
import { rng } from '@slimswarm/swarm/synthetic-problem';

/** The share of normBound the attacker uses: a hair below the bound, so int8 rounding cannot cross it. */
export const SAFETY = 0.99;

export type AttackName = 'gaussian' | 'sign-flip';
export type Weights = Record<string, Float32Array>;

/** Uniform [0, 1) draws from a 32-bit seed: the attack is the same for the same seed. */
export const seededRandom = rng;

export function tensorNames(w: Weights): string[] {
  return Object.keys(w).sort();
}

export function flatten(w: Weights, names = tensorNames(w)): Float32Array {
  const size = names.reduce((n, k) => n + w[k]!.length, 0);
  const out = new Float32Array(size);
  let at = 0;
  for (const k of names) {
    out.set(w[k]!, at);
    at += w[k]!.length;
  }
  return out;
}

/** base − delta, tensor by tensor (the local weights whose Δ = base − w is `delta`). */
export function weightsMinus(base: Weights, delta: Float32Array, names = tensorNames(base)): Weights {
  const out: Weights = {};
  let at = 0;
  for (const k of names) {
    const b = base[k]!;
    const w = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) w[i] = b[i]! - delta[at + i]!;
    out[k] = w;
    at += b.length;
  }
  return out;
}

export function l2(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function scaleTo(v: Float32Array, norm: number): Float32Array {
  const n = l2(v);
  if (n === 0) return v;
  const k = norm / n;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * k;
  return v;
}

/** k = ⌈fraction·P⌉, at least 1 (the codec's top-k count). */
export function keptCount(size: number, fraction: number): number {
  return Math.min(size, Math.max(1, Math.ceil(fraction * size)));
}

/** Gaussian noise on a fresh random `fraction` of the coordinates, L2 norm SAFETY·bound. */
export function gaussianAttack(
  size: number,
  fraction: number,
  bound: number,
  random: () => number,
): Float32Array {
  const k = keptCount(size, fraction);
  // Partial Fisher–Yates: the first k entries of `order` are k distinct random coordinates.
  const order = new Uint32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  const v = new Float32Array(size);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (size - i));
    const pick = order[j]!;
    order[j] = order[i]!;
    order[i] = pick;
    // Box–Muller; 1 − u keeps the log finite.
    v[pick] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  }
  return scaleTo(v, SAFETY * bound);
}

/**
 * The reversed honest direction: +(current − previous) (see the file comment for the sign), only its
 * `keep` largest-magnitude coordinates when keep is a fraction (a top-k job), L2 norm SAFETY·bound.
 * Zeros when the model did not move (or no previous model is known yet).
 */
export function signFlipAttack(
  current: Float32Array,
  previous: Float32Array | null,
  bound: number,
  keep: number | null,
): Float32Array {
  const v = new Float32Array(current.length);
  if (!previous) return v;
  for (let i = 0; i < v.length; i++) v[i] = current[i]! - previous[i]!;
  if (keep !== null) {
    const k = keptCount(v.length, keep);
    if (k < v.length) {
      // The k-th largest magnitude as a threshold; ties at the threshold are kept in index order.
      const mags = Float32Array.from(v, Math.abs).sort();
      const threshold = mags[v.length - k]!;
      let kept = 0;
      for (let i = 0; i < v.length; i++) {
        if (Math.abs(v[i]!) > threshold) kept++;
      }
      let ties = k - kept;
      for (let i = 0; i < v.length; i++) {
        const m = Math.abs(v[i]!);
        if (m > threshold) continue;
        if (m === threshold && ties > 0 && m > 0) ties--;
        else v[i] = 0;
      }
    }
  }
  return scaleTo(v, SAFETY * bound);
}
