import { createNaiveEngine, initParams } from '@slimswarm/performer';
import { InnerOptimizer } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { TINY_PERFORMER, rocAuc, roundLeak } from '../src/index.js';

describe('token recovery from one delta', () => {
  it('the AUC is 1, 0 and 0.5 where it should be', () => {
    const scores = Float64Array.of(0.1, 0.2, 0.8, 0.9);
    expect(rocAuc(scores, new Set([2, 3]))).toBe(1);
    expect(rocAuc(scores, new Set([0, 1]))).toBe(0);
    expect(rocAuc(Float64Array.of(1, 1, 1, 1), new Set([0, 3]))).toBe(0.5);
  });

  it("names the tokens of a volunteer's round from its delta, dense or top-k compressed", async () => {
    // The round's text uses 20 of the 256 byte tokens, the attacker's shadow text 22 others in part; a
    // delta that said nothing would score AUC ≈ 0.5.
    const text = (letters: string) => {
      const alphabet = letters.split('').map((c) => c.charCodeAt(0));
      return Array.from({ length: 3 }, (_, s) =>
        Int32Array.from(
          { length: 65 },
          (_, i) => alphabet[(i * 7 + s * 3 + ((i * i) % 5)) % alphabet.length]!,
        ),
      );
    };
    const sequences = text('the quick brown fox jumps');
    const alphabet = [...new Set(sequences.flatMap((s) => [...s]))];
    const leaks = await roundLeak({
      config: TINY_PERFORMER,
      engine: createNaiveEngine(TINY_PERFORMER),
      optimizer: InnerOptimizer.parse({ kind: 'adamw', lr: 3e-3 }),
      base: initParams(TINY_PERFORMER),
      sequences,
      shadow: text('pack my box with five dozen liquor jugs'),
      codecs: [
        { codec: 'dense-f32', topkFraction: 1 },
        { codec: 'topk-int8', topkFraction: 0.05 },
      ],
    });
    for (const leak of leaks) {
      expect(leak.present).toBe(new Set(alphabet).size);
      expect(leak.auc, leak.codec).toBeGreaterThan(0.95);
      expect(leak.recall, leak.codec).toBeGreaterThan(0.9);
      expect(leak.precision, leak.codec).toBeGreaterThan(0.8);
    }
  });

  it("says next to nothing once the delta went through a private job's mechanism", async () => {
    // The same kind of round as above, noised heavily (z = 50): the attacker, calibrated on a shadow
    // noised the same way, ranks present rows about as well as a coin (AUC 0.5 ± ~0.07 at 20 of 256).
    const sequences = [0, 1, 2].map((s) =>
      Int32Array.from({ length: 65 }, (_, i) => 97 + ((i * 7 + s * 3) % 20)),
    );
    const shadow = [0, 1, 2].map((s) => Int32Array.from({ length: 65 }, (_, i) => 65 + ((i * 5 + s) % 22)));
    const leaks = await roundLeak({
      config: TINY_PERFORMER,
      engine: createNaiveEngine(TINY_PERFORMER),
      optimizer: InnerOptimizer.parse({ kind: 'adamw', lr: 3e-3 }),
      base: initParams(TINY_PERFORMER),
      sequences,
      shadow,
      codecs: [{ codec: 'dense-f32', topkFraction: 1 }],
      privacy: { clipNorm: 0.01, noiseMultiplier: 50 },
    });
    expect(Math.abs(leaks[0]!.auc - 0.5)).toBeLessThan(0.3);
  });
});
