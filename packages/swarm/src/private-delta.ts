/**
 * The Gaussian mechanism on this peer's round delta (docs/privacy.md): clip Δ to L2 norm C, add
 * N(0, (zC)²) to every coordinate. It runs before the codec, so top-k selection — which depends on the
 * data — only post-processes a vector that is already private; error feedback is off in private jobs
 * (the manifest refuses it), so no un-sent remainder of one round reaches the next.
 *
 * The noise comes from the platform's CSPRNG (`crypto.getRandomValues`, Node and browsers): a peer that
 * could predict it could subtract it. Uniforms carry 53 bits; normals come from Box–Muller. Finite
 * precision leaves the known floating-point caveats of DP samplers (Mironov 2012): the noise is drawn in
 * f64 and added in f32, and we make no claim beyond the continuous Gaussian's.
 *
 * Dimension legend: P parameters.
 */
import type { PrivacyConfig } from '@slimswarm/protocol';
import { l2Norm } from './model-layout.js';

/** Fills `out` with independent N(0, 1) samples. */
export type NormalSource = (out: Float64Array) => void;

/** getRandomValues fills at most 65 536 bytes per call. */
const WORDS_PER_CALL = 16_384;
const TWO_POW_53 = 2 ** 53;
/** Noise drawn per call of the normal source. */
const NOISE_CHUNK = 8192;

/** Standard normals from the CSPRNG by Box–Muller, two per four 32-bit words. */
export const cryptoNormals: NormalSource = (out) => {
  const words = new Uint32Array(WORDS_PER_CALL);
  for (let i = 0; i < out.length;) {
    crypto.getRandomValues(words);
    for (let w = 0; w + 4 <= WORDS_PER_CALL && i < out.length; w += 4) {
      // u1 in (0, 1] (log is finite), u2 in [0, 1): 53 random bits each.
      const u1 = 1 - ((words[w]! >>> 5) * 67_108_864 + (words[w + 1]! >>> 6)) / TWO_POW_53;
      const u2 = ((words[w + 2]! >>> 5) * 67_108_864 + (words[w + 3]! >>> 6)) / TWO_POW_53;
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i++] = r * Math.cos(2 * Math.PI * u2);
      if (i < out.length) out[i++] = r * Math.sin(2 * Math.PI * u2);
    }
  }
};

/** Δ scaled to norm at most C, plus N(0, (zC)²) per coordinate, in place (P): no second copy of P. */
export function privatizeDelta(
  delta: Float32Array,
  privacy: Pick<PrivacyConfig, 'clipNorm' | 'noiseMultiplier'>,
  normals: NormalSource = cryptoNormals,
): Float32Array {
  const { clipNorm, noiseMultiplier } = privacy;
  const norm = l2Norm(delta);
  const scale = norm > clipNorm ? clipNorm / norm : 1;
  const sigma = noiseMultiplier * clipNorm;
  // In chunks: a P-long f64 buffer of noise would be 8 bytes per parameter more at peak.
  const noise = new Float64Array(Math.min(NOISE_CHUNK, delta.length)); // [chunk] N(0, 1)
  for (let start = 0; start < delta.length; start += noise.length) {
    const n = Math.min(noise.length, delta.length - start);
    const chunk = n === noise.length ? noise : noise.subarray(0, n);
    normals(chunk);
    for (let j = 0; j < n; j++) delta[start + j] = delta[start + j]! * scale + sigma * chunk[j]!;
  }
  return delta;
}
