import { createNaiveEngine, initParams } from '@slimswarm/performer';
import { InnerOptimizer, OuterOptimizer } from '@slimswarm/protocol';
import { ModelLayout } from '@slimswarm/swarm';
import { describe, expect, it } from 'vitest';
import {
  PIN_CANARY,
  TINY_PERFORMER,
  candidateSequences,
  canaryText,
  exposureOf,
  insertCanary,
  randomSecrets,
  trainPrivateRounds,
} from '../src/index.js';

describe('canary exposure', () => {
  it('is log2(n) for the likeliest canary, 0 for the least likely, and the middle for a tie', () => {
    expect(exposureOf([0.1, 0.5, 0.7, 0.9])).toEqual({ rank: 1, candidates: 4, exposure: 2 });
    expect(exposureOf([1, 0.5, 0.7, 0.9])).toEqual({ rank: 4, candidates: 4, exposure: 0 });
    expect(exposureOf([0.5, 0.5, 0.5, 0.5]).rank).toBe(2.5);
    expect(() => exposureOf([0.5])).toThrow(RangeError);
  });

  it('draws distinct secrets of the format, never the canary, the same for a seed', () => {
    const [canary] = randomSecrets(PIN_CANARY, 1, 'canary');
    const others = randomSecrets(PIN_CANARY, 500, 'others', [canary!]);
    expect(new Set(others.map((o) => o.join(''))).size).toBe(500);
    expect(others.map((o) => o.join(''))).not.toContain(canary!.join(''));
    expect(others.every((o) => o.length === 6 && o.every((d) => d >= 0 && d <= 9))).toBe(true);
    expect(randomSecrets(PIN_CANARY, 500, 'others', [canary!])).toEqual(others);
    expect(() => randomSecrets({ prefix: '', digits: 1 }, 10, 'all', [[3]])).toThrow(RangeError);
    expect(canaryText(PIN_CANARY, [4, 8, 1, 9, 3, 7])).toBe('my PIN is 4 8 1 9 3 7');
  });

  it('puts the canary in k times on lines of its own', () => {
    const text = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
    const out = insertCanary(text, 'my PIN is 1 2 3 4 5 6', 7, 'seed');
    expect(out.split('\n').filter((l) => l === 'my PIN is 1 2 3 4 5 6')).toHaveLength(7);
    expect(out.split('\n').filter((l) => l.startsWith('line '))).toHaveLength(40);
  });

  it('scores candidates after one shared context, so only their own bytes differ', () => {
    const context = 'some earlier text\nand a line before it\n';
    const [a, b] = candidateSequences(context, ['my PIN is 1 2', 'my PIN is 3 4'], 30);
    expect(a!.length).toBe(30);
    const text = (s: Int32Array) => String.fromCharCode(...s);
    expect(text(a!).endsWith('it\nmy PIN is 1 2')).toBe(true);
    expect(text(b!).endsWith('it\nmy PIN is 3 4')).toBe(true);
    expect(text(a!).slice(0, 17)).toBe(text(b!).slice(0, 17));
    expect(() => candidateSequences('short\n', ['my PIN is 1 2'], 30)).toThrow(RangeError);
  });
});

describe('private rounds', () => {
  it("add the mechanism's noise to the shared model: N(0, (zC)²) per coordinate through the outer step", async () => {
    const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog. '.repeat(8));
    const run = (privacy?: { clipNorm: number; noiseMultiplier: number }) =>
      trainPrivateRounds({
        config: TINY_PERFORMER,
        engine: createNaiveEngine(TINY_PERFORMER),
        optimizer: InnerOptimizer.parse({ kind: 'adamw', lr: 3e-3 }),
        // lr 1, no momentum: the model moves by exactly the mean delta.
        outer: OuterOptimizer.parse({ kind: 'nesterov', lr: 1, momentum: 0 }),
        base: initParams(TINY_PERFORMER),
        texts: [text],
        seqLen: 32,
        localSteps: 2,
        rounds: 1,
        ...(privacy ? { privacy } : {}),
      });
    const layout = ModelLayout.fromWeights(initParams(TINY_PERFORMER));
    const base = layout.flatten(initParams(TINY_PERFORMER));
    const rmsMove = (w: Float32Array) => {
      let sq = 0;
      for (let i = 0; i < base.length; i++) sq += (w[i]! - base[i]!) ** 2;
      return Math.sqrt(sq / base.length);
    };
    // Plainly the model moves by the round's delta; privately by the clipped delta (norm 1e-3 in all,
    // nothing per coordinate) plus noise of 0.01 per coordinate, which dominates.
    expect(rmsMove(layout.flatten(await run()))).toBeGreaterThan(0);
    const rms = rmsMove(layout.flatten(await run({ clipNorm: 1e-3, noiseMultiplier: 10 })));
    expect(rms).toBeGreaterThan(0.009);
    expect(rms).toBeLessThan(0.011);
  });
});
