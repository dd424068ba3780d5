/**
 * Rényi differential privacy (Mironov 2017) of the Gaussian mechanism, alone (any order α > 1) and under
 * Poisson subsampling (integer orders α ≥ 2). Sensitivity is 1 throughout: a release clipped to norm C with
 * noise N(0, σ²C²) has noise multiplier σ.
 *
 * Subsampled (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
 * Mechanism", §3.2, integer α): with sampling rate q,
 *   A_α = Σ_{k=0..α} C(α, k) (1−q)^(α−k) q^k exp((k² − k) / (2σ²)),   RDP(α) = log A_α / (α − 1).
 * At q = 1 only k = α survives and this is the plain Gaussian's α / (2σ²). The sum is taken in log space:
 * its terms reach exp(α²/2σ²), far beyond a double, at the orders that matter for small σ.
 *
 * Why subsampled orders are integers only: the fractional-order series needs erfc sums that buy a few
 * percent of ε. A fractional order of a subsampled release is +∞ (true, and simply never the best order);
 * the fractional orders below 2 are there for the plain Gaussian composed over many rounds, whose best
 * order falls below 2 once ε is large.
 */
import { InvalidPrivacyParameterError } from './errors.js';

export interface GaussianMechanism {
  /** σ: noise standard deviation over the clipping norm. */
  noiseMultiplier: number;
  /** q: probability that a record (here: a volunteer's data) takes part in a release; 1 = always. */
  sampleRate: number;
}

/** Integer orders the accountant evaluates (the optimum for ε between ~0.1 and ~50 lies inside). */
export const DEFAULT_ORDERS: readonly number[] = [
  1.05,
  1.1,
  1.2,
  1.3,
  1.4,
  1.5,
  1.6,
  1.75,
  1.9,
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  72,
  80,
  96,
  112,
  128,
  160,
  192,
  224,
  256,
  320,
  384,
  512,
  768,
  1024,
];

export function checkMechanism(mechanism: GaussianMechanism): void {
  const { noiseMultiplier: sigma, sampleRate: q } = mechanism;
  if (!(Number.isFinite(sigma) && sigma > 0)) {
    throw new InvalidPrivacyParameterError(`noise multiplier must be a positive number, got ${sigma}`);
  }
  if (!(q > 0 && q <= 1)) throw new InvalidPrivacyParameterError(`sample rate must be in (0, 1], got ${q}`);
}

function checkOrder(alpha: number): void {
  if (!(Number.isFinite(alpha) && alpha > 1)) {
    throw new InvalidPrivacyParameterError(`RDP order must be a number > 1, got ${alpha}`);
  }
}

/** log Σ exp(x_i), exact for terms far outside double range. */
export function logSumExp(terms: readonly number[]): number {
  const max = terms.reduce((m, t) => Math.max(m, t), -Infinity);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return max + Math.log(sum);
}

/** log A_α of the subsampled Gaussian (see the header). */
export function logMomentSubsampledGaussian(mechanism: GaussianMechanism, alpha: number): number {
  checkMechanism(mechanism);
  checkOrder(alpha);
  const { noiseMultiplier: sigma, sampleRate: q } = mechanism;
  const twoSigmaSq = 2 * sigma * sigma;
  if (q === 1) return (alpha * alpha - alpha) / twoSigmaSq;
  if (!Number.isInteger(alpha)) return Infinity;
  const logQ = Math.log(q);
  const logNotQ = Math.log1p(-q);
  const terms: number[] = [];
  let logBinomial = 0; // log C(α, k), built up term by term
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinomial += Math.log((alpha - k + 1) / k);
    terms.push(logBinomial + (alpha - k) * logNotQ + k * logQ + (k * k - k) / twoSigmaSq);
  }
  return logSumExp(terms);
}

/** RDP ε(α) of one release of the (subsampled) Gaussian mechanism. */
export function gaussianRdp(mechanism: GaussianMechanism, alpha: number): number {
  return logMomentSubsampledGaussian(mechanism, alpha) / (alpha - 1);
}
