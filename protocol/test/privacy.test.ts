import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobManifest, PrivacyConfig, privateDeltaNormBound, trainableParamCount } from '../src/index.js';
import { jobManifest } from './arbitraries.js';

const privacy = { mechanism: 'gaussian', clipNorm: 0.5, noiseMultiplier: 1.2, delta: 1e-6 } as const;

/** A valid manifest of P = 10 000 parameters without privacy, error feedback off. */
function plain() {
  // The arbitrary trains every parameter (no LoRA), so P is the base's.
  const [m] = fc.sample(jobManifest, { numRuns: 1, seed: 7 });
  const manifest = JobManifest.parse(m);
  return {
    ...manifest,
    baseCheckpoint: { ...manifest.baseCheckpoint, params: 10_000 },
    compression: { ...manifest.compression, errorFeedback: false },
  };
}

function withBound(normBound: number) {
  const m = plain();
  return { ...m, privacy, aggregation: { ...m.aggregation, normBound } };
}

describe('PrivacyConfig', () => {
  it('bounds every parameter and takes only the Gaussian mechanism', () => {
    expect(PrivacyConfig.safeParse(privacy).success).toBe(true);
    for (const bad of [
      { ...privacy, mechanism: 'laplace' },
      { ...privacy, clipNorm: 0 },
      { ...privacy, noiseMultiplier: -1 },
      { ...privacy, noiseMultiplier: Infinity },
      { ...privacy, delta: 0 },
      { ...privacy, delta: 0.02 },
      { ...privacy, extra: 1 },
    ])
      expect(PrivacyConfig.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
  });
});

describe('privateDeltaNormBound', () => {
  it('is C(1 + z(√P + 10)) with 4% room for the codec', () => {
    expect(privateDeltaNormBound(privacy, 10_000)).toBeCloseTo(0.5 * (1 + 1.2 * 110) * 1.04, 10);
  });

  it('holds the norm of clipped deltas plus sampled N(0, (zC)²) noise', () => {
    const P = 10_000;
    const sigma = privacy.noiseMultiplier * privacy.clipNorm;
    let worst = 0;
    for (let trial = 0; trial < 20; trial++) {
      let sq = 0;
      for (let i = 0; i < P; i += 2) {
        // Box–Muller on Math.random: the test needs samples, not privacy.
        const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
        const t = 2 * Math.PI * Math.random();
        const a = i === 0 ? privacy.clipNorm + sigma * r * Math.cos(t) : sigma * r * Math.cos(t);
        const b = sigma * r * Math.sin(t);
        sq += a * a + b * b;
      }
      worst = Math.max(worst, Math.sqrt(sq));
    }
    expect(worst).toBeLessThan(privateDeltaNormBound(privacy, P));
    // Not so loose that it bounds nothing: the noise norm is about zC√P.
    expect(privateDeltaNormBound(privacy, P)).toBeLessThan(1.2 * worst);
  });
});

describe('a manifest with privacy', () => {
  it('is accepted when its normBound holds a noised delta', () => {
    const m = withBound(privateDeltaNormBound(privacy, 10_000));
    expect(trainableParamCount(m)).toBe(10_000);
    expect(JobManifest.parse(m).privacy).toEqual(privacy);
  });

  it('is refused when its normBound would refuse honest noised deltas', () => {
    const result = JobManifest.safeParse(withBound(privateDeltaNormBound(privacy, 10_000) * 0.99));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain('aggregation.normBound');
  });

  it('is refused with error feedback on', () => {
    const m = withBound(1e6);
    const result = JobManifest.safeParse({ ...m, compression: { ...m.compression, errorFeedback: true } });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain('compression.errorFeedback');
  });

  it('is optional: a manifest without privacy parses as before', () => {
    expect(JobManifest.parse(plain()).privacy).toBeUndefined();
  });
});
