/**
 * The other way round from the accountant: the noise multiplier that spends a given ε over a given number
 * of releases — what an operator choosing `--dp-noise` for a job of known length wants, and what the
 * privacy benchmark uses to put its rows at round ε targets.
 */
import { RdpAccountant } from './accountant.js';
import { InvalidPrivacyParameterError } from './errors.js';

export interface NoiseTarget {
  /** ε to spend in all, at `delta`. */
  epsilon: number;
  delta: number;
  /** Releases of the mechanism (rounds a volunteer takes part in). */
  releases: number;
  /** q of each release (default 1: the volunteer's whole data, every round). */
  sampleRate?: number;
}

/** ε spent by `releases` releases at noise multiplier z. */
function spentAt(z: number, target: NoiseTarget): number {
  const mechanism = { noiseMultiplier: z, sampleRate: target.sampleRate ?? 1 };
  return new RdpAccountant().compose(mechanism, target.releases).spent(target.delta).epsilon;
}

/**
 * The smallest noise multiplier (to a relative 1e-6) whose ε after `releases` releases is at most the
 * target. ε falls monotonically as z grows, so bisection on log z finds it.
 */
export function noiseMultiplierFor(target: NoiseTarget): number {
  const { epsilon, delta, releases } = target;
  if (!(Number.isFinite(epsilon) && epsilon > 0))
    throw new InvalidPrivacyParameterError(`target ε must be a positive number, got ${epsilon}`);
  if (!(delta > 0 && delta < 1)) throw new InvalidPrivacyParameterError(`δ must be in (0, 1), got ${delta}`);
  if (!(Number.isInteger(releases) && releases >= 1))
    throw new InvalidPrivacyParameterError(`releases must be a positive integer, got ${releases}`);
  let lo = 1e-2;
  let hi = 1e4;
  if (spentAt(hi, target) > epsilon)
    throw new InvalidPrivacyParameterError(`ε ${epsilon} needs a noise multiplier above ${hi}`);
  if (spentAt(lo, target) <= epsilon) return lo;
  while (hi / lo > 1 + 1e-6) {
    const mid = Math.sqrt(lo * hi);
    if (spentAt(mid, target) > epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
