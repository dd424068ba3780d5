import { describe, expect, it } from 'vitest';
import { DEFAULT_AGGREGATION } from '@slimswarm/default-job';
import { syntheticManifest } from '@slimswarm/swarm/synthetic-problem';
import {
  craftAttack,
  inverseNormal,
  l2,
  seededRandom,
  simulate,
  synthetic,
  ATTACKS,
  type AttackView,
} from '../src/index.js';

function view(f: number): AttackView {
  const random = seededRandom(5);
  const honest = Array.from({ length: 8 - f }, () =>
    Float32Array.from({ length: 64 }, () => 1 + random() - 0.5),
  );
  return { honest, byzantine: f, peers: 8, bound: 10, random };
}

describe('attacks', () => {
  it('Φ⁻¹ matches known quantiles', () => {
    expect(inverseNormal(0.5)).toBeCloseTo(0, 9);
    expect(inverseNormal(0.75)).toBeCloseTo(0.6744898, 6);
    expect(inverseNormal(0.975)).toBeCloseTo(1.959964, 6);
    expect(inverseNormal(0.01)).toBeCloseTo(-2.326348, 6);
  });

  it('every attack sends f vectors within the bound; sign-flip and IPM point against the honest mean', () => {
    for (const name of ATTACKS) {
      const v = view(3);
      const sent = craftAttack(name, v);
      expect(sent).toHaveLength(3);
      for (const x of sent) expect(l2(x)).toBeLessThanOrEqual(v.bound * (1 + 1e-6));
    }
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const v = view(2);
    const mean = v.honest[0]!;
    expect(dot(craftAttack('sign-flip', v)[0]!, mean)).toBeLessThan(0);
    expect(l2(craftAttack('sign-flip', v)[0]!)).toBeCloseTo(v.bound, 3);
    expect(dot(craftAttack('ipm-10', v)[0]!, mean)).toBeLessThan(0);
    // ALIE with f = 3 of 8: z = Φ⁻¹(6/8), the mean shifted by −z·σ on every coordinate.
    expect(craftAttack('spike', v)[0]!.filter((x) => x !== 0)).toHaveLength(1);
  });

  it('the attacks are real: sign-flip wrecks an undefended mean, and the defence holds it', async () => {
    const problem = synthetic({ params: 2048, localSteps: 10, lr: 0.5 });
    const job = (aggregation: ReturnType<typeof syntheticManifest>['aggregation']) => {
      const m = syntheticManifest({ baseSha256: '0'.repeat(64), params: 2048, aggregation });
      return m;
    };
    const run = (aggregation: Parameters<typeof job>[0], attack: 'sign-flip' | null) =>
      simulate({ problem, manifest: job(aggregation), peers: 8, byzantine: 2, attack, rounds: 15, seed: 1 });
    const mean = { rule: 'mean' as const, normBound: 20 };
    const defence = { ...DEFAULT_AGGREGATION, normBound: 20 };
    const [meanClean, meanAttacked, defClean, defAttacked] = [
      await run(mean, null),
      await run(mean, 'sign-flip'),
      await run(defence, null),
      await run(defence, 'sign-flip'),
    ];
    expect(meanAttacked.finalLoss).toBeGreaterThan(2 * meanClean.finalLoss);
    expect(defAttacked.finalLoss).toBeLessThan(1.1 * defClean.finalLoss);
    expect(defAttacked.clipped).toBeGreaterThan(0);
  });

  it('overlapped rounds start from the model before the last merge: equal in round 1, apart after', async () => {
    const problem = synthetic({ params: 256, localSteps: 5, lr: 0.3 });
    const manifest = syntheticManifest({ baseSha256: '0'.repeat(64), params: 256 });
    const run = (overlap: 'none' | 'from-local' | 'from-shared', rounds: number) =>
      simulate({ problem, manifest, peers: 4, byzantine: 0, attack: null, rounds, seed: 3, overlap });
    const first = await Promise.all([run('none', 1), run('from-local', 1), run('from-shared', 1)]);
    expect(first[1]!.finalLoss).toBe(first[0]!.finalLoss);
    expect(first[2]!.finalLoss).toBe(first[0]!.finalLoss);
    const none = await run('none', 8);
    const local = await run('from-local', 8);
    const shared = await run('from-shared', 8);
    expect(local.finalLoss).not.toBe(none.finalLoss);
    expect(shared.finalLoss).not.toBe(local.finalLoss);
    // Staleness costs on this problem (both end above the synchronous run), and neither run is the other.
    expect(local.finalLoss).toBeGreaterThan(none.finalLoss);
    expect(local.finalLoss).toBeLessThan(local.lossByRound[0]!);
  });
});
