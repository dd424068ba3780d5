/**
 * The standard poisoning attacks on averaging, each an omniscient adversary: it sees the honest deltas of
 * the round (as every peer receives them) and returns what each of its f identities sends. Every vector
 * is scaled to pass the job's own checks (at most `bound` in L2 norm); the codec then encodes it like any
 * delta, so a top-k job sends its top-k coordinates.
 *
 *   sign-flip   −bound · μ/‖μ‖                         (the honest mean, reversed, as long as allowed)
 *   gaussian    N(0, I) scaled to bound, one draw per identity
 *   alie        μ − z·σ, z = Φ⁻¹((n − s)/n), s = ⌊n/2 + 1⌋ − f   (Baruch et al., NeurIPS 2019)
 *   ipm-ε       −ε · μ                                  (inner-product manipulation, Xie et al. 2020)
 *   min-max     μ − γ·σ, the largest γ whose distance to every honest delta stays within the largest
 *               honest pairwise distance                (Shejwalkar & Houmansadr, NDSS 2021, AGR-agnostic)
 *   min-sum     μ − γ·σ, the largest γ whose summed squared distance to the honest deltas stays within
 *               the largest honest one's                (same paper)
 *   spike       bound on the one coordinate where the honest mean is largest, against its sign
 *
 * μ and σ are the coordinate-wise mean and standard deviation of the honest deltas. Dimension legend:
 * P parameters, n peers (honest + f), h honest deltas.
 */
import { inverseNormal } from './inverse-normal.js';

export const ATTACKS = [
  'sign-flip',
  'gaussian',
  'alie',
  'ipm-0.1',
  'ipm-10',
  'min-max',
  'min-sum',
  'spike',
] as const;
export type AttackName = (typeof ATTACKS)[number];

export interface AttackView {
  /** The honest deltas of this round, dense (h × P), as every peer decoded them. */
  honest: readonly Float32Array[];
  /** f: how many identities the adversary holds. */
  byzantine: number;
  /** n: all contributors of the round. */
  peers: number;
  /** Largest L2 norm a delta may have and still be accepted. */
  bound: number;
  /** Uniform [0, 1) draws, seeded by the caller. */
  random: () => number;
}

/** What each of the f identities sends this round (f vectors of P). */
export function craftAttack(name: AttackName, view: AttackView): Float32Array[] {
  const { honest, byzantine: f } = view;
  const mu = coordinateMean(honest);
  const same = (v: Float32Array) => Array.from({ length: f }, () => v);
  switch (name) {
    case 'sign-flip':
      return same(scaledTo(mu, -view.bound));
    case 'gaussian':
      return Array.from({ length: f }, () => scaledTo(gaussianVector(mu.length, view.random), view.bound));
    case 'alie': {
      const s = Math.floor(view.peers / 2 + 1) - f;
      const z = inverseNormalSafe((view.peers - s) / view.peers);
      return same(capped(axpy(mu, -z, coordinateStd(honest, mu)), view.bound));
    }
    case 'ipm-0.1':
      return same(capped(scale(mu, -0.1), view.bound));
    case 'ipm-10':
      return same(capped(scale(mu, -10), view.bound));
    case 'min-max':
    case 'min-sum':
      return same(capped(minMaxOrSum(name, honest, mu, coordinateStd(honest, mu)), view.bound));
    case 'spike': {
      let j = 0;
      for (let i = 1; i < mu.length; i++) if (Math.abs(mu[i]!) > Math.abs(mu[j]!)) j = i;
      const v = new Float32Array(mu.length);
      v[j] = (mu[j]! > 0 ? -1 : 1) * view.bound;
      return same(v);
    }
  }
}

/** ALIE's z; Φ⁻¹(p) at p = 1/2 is 0 (with f = 1 of 8 the attack sends the mean: it needs f ≥ 2 to bite). */
function inverseNormalSafe(p: number): number {
  return p <= 0 || p >= 1 ? 0 : inverseNormal(p);
}

/**
 * The AGR-agnostic search of Shejwalkar & Houmansadr: m(γ) = μ + γ·p with p = −σ, the largest γ (by
 * bisection) with max_i ‖m − xᵢ‖ ≤ max_ij ‖xᵢ − xⱼ‖ (min-max) or Σᵢ ‖m − xᵢ‖² ≤ maxᵢ Σⱼ ‖xᵢ − xⱼ‖² (min-sum).
 */
function minMaxOrSum(
  kind: 'min-max' | 'min-sum',
  honest: readonly Float32Array[],
  mu: Float32Array,
  sigma: Float32Array,
): Float32Array {
  const dist2 = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
    return s;
  };
  const pairwise = honest.map((a) => honest.map((b) => dist2(a, b)));
  const limit =
    kind === 'min-max'
      ? Math.max(...pairwise.flat())
      : Math.max(...pairwise.map((row) => row.reduce((x, y) => x + y, 0)));
  const within = (m: Float32Array) => {
    const d = honest.map((x) => dist2(m, x));
    return (kind === 'min-max' ? Math.max(...d) : d.reduce((x, y) => x + y, 0)) <= limit;
  };
  let lo = 0;
  let hi = 1;
  while (within(axpy(mu, -hi, sigma)) && hi < 1e6) hi *= 2;
  for (let it = 0; it < 30; it++) {
    const mid = (lo + hi) / 2;
    if (within(axpy(mu, -mid, sigma))) lo = mid;
    else hi = mid;
  }
  return axpy(mu, -lo, sigma);
}

export function coordinateMean(xs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(xs[0]?.length ?? 0);
  for (const x of xs) for (let i = 0; i < out.length; i++) out[i] = out[i]! + x[i]! / xs.length;
  return out;
}

export function coordinateStd(xs: readonly Float32Array[], mu: Float32Array): Float32Array {
  const out = new Float32Array(mu.length);
  for (const x of xs)
    for (let i = 0; i < mu.length; i++) out[i] = out[i]! + (x[i]! - mu[i]!) ** 2 / xs.length;
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(out[i]!);
  return out;
}

export function l2(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function scale(v: Float32Array, k: number): Float32Array {
  return Float32Array.from(v, (x) => x * k);
}

/** a + k·b */
function axpy(a: Float32Array, k: number, b: Float32Array): Float32Array {
  return Float32Array.from(a, (x, i) => x + k * b[i]!);
}

/** v scaled to L2 norm |target|, in the direction sign(target)·v. */
function scaledTo(v: Float32Array, target: number): Float32Array {
  const n = l2(v);
  return n === 0 ? new Float32Array(v.length) : scale(v, target / n);
}

/** v, shrunk to the bound if longer (what the adversary may send at all). */
function capped(v: Float32Array, bound: number): Float32Array {
  const n = l2(v);
  return n > bound ? scale(v, bound / n) : v;
}

function gaussianVector(size: number, random: () => number): Float32Array {
  return Float32Array.from(
    { length: size },
    () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()),
  );
}
