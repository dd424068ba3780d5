/**
 * User-level differential privacy as a job option (docs/privacy.md): every round each peer clips its own
 * delta to L2 norm C and adds N(0, (zC)²) to every coordinate before compressing it. The manifest names
 * the mechanism; what each release spends is counted by the peer itself (packages/privacy).
 */
import { z } from 'zod';

export const PrivacyConfig = z
  .object({
    mechanism: z.literal('gaussian'),
    /** C: the L2 norm every round delta is clipped to (the sensitivity of one volunteer's release). */
    clipNorm: z.number().finite().gt(0).lte(1e6),
    /** z: noise standard deviation over C. */
    noiseMultiplier: z.number().finite().gt(0).lte(1e3),
    /** δ of the (ε, δ) each peer reports; well below 1 / (number of volunteers). */
    delta: z.number().finite().gt(0).lte(1e-2),
  })
  .strict();
export type PrivacyConfig = z.infer<typeof PrivacyConfig>;

/**
 * Standard deviations past √P the noise norm is allowed: ‖N(0, I_P)‖ is 1-Lipschitz in the noise, so it
 * exceeds √P + t with probability below exp(−t²/2) (Gaussian concentration): e^−50 at t = 10.
 */
const NOISE_NORM_TAIL = 10;
/** Room for the codec: int8 and f16 rounding may lengthen a vector a little (int8: < 1/254 per value). */
const CODEC_MARGIN = 1.04;

/**
 * The largest L2 norm an honest noised delta of P values reaches (but with probability e^−50):
 * ‖clip(Δ) + noise‖ ≤ C + zC(√P + 10), with room for the codec's rounding. A job's aggregation normBound
 * must be at least this, or the receivers would refuse honest private deltas.
 */
export function privateDeltaNormBound(privacy: PrivacyConfig, params: number): number {
  const { clipNorm: c, noiseMultiplier: z } = privacy;
  return c * (1 + z * (Math.sqrt(params) + NOISE_NORM_TAIL)) * CODEC_MARGIN;
}
