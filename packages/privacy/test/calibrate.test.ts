import { describe, expect, it } from 'vitest';
import { InvalidPrivacyParameterError, RdpAccountant, noiseMultiplierFor } from '../src/index.js';

const spent = (z: number, releases: number, delta: number) =>
  new RdpAccountant().compose({ noiseMultiplier: z, sampleRate: 1 }, releases).spent(delta).epsilon;

describe('noiseMultiplierFor', () => {
  it.each([
    [10, 8],
    [4, 8],
    [1, 8],
    [4, 100],
  ])(
    'spends at most ε = %d over %d releases, and a little less noise would spend more',
    (epsilon, releases) => {
      const z = noiseMultiplierFor({ epsilon, delta: 1e-6, releases });
      expect(spent(z, releases, 1e-6)).toBeLessThanOrEqual(epsilon);
      expect(spent(z, releases, 1e-6)).toBeGreaterThan(epsilon * 0.99);
      expect(spent(z * 0.999, releases, 1e-6)).toBeGreaterThan(epsilon);
    },
  );

  it('agrees with the table of docs/privacy.md (z = 2 spends 8.86 over 10 releases at δ = 1e-6)', () => {
    expect(noiseMultiplierFor({ epsilon: 8.86, delta: 1e-6, releases: 10 })).toBeCloseTo(2, 2);
  });

  it('refuses targets it cannot meet or that make no sense', () => {
    expect(() => noiseMultiplierFor({ epsilon: 0, delta: 1e-6, releases: 1 })).toThrow(
      InvalidPrivacyParameterError,
    );
    expect(() => noiseMultiplierFor({ epsilon: 1, delta: 0, releases: 1 })).toThrow(
      InvalidPrivacyParameterError,
    );
    expect(() => noiseMultiplierFor({ epsilon: 1, delta: 1e-6, releases: 0.5 })).toThrow(
      InvalidPrivacyParameterError,
    );
    expect(() => noiseMultiplierFor({ epsilon: 1e-6, delta: 1e-6, releases: 1 })).toThrow(/above/);
  });
});
