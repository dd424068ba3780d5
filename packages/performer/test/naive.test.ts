/**
 * The float64 naive reference, on every model family (family-fixtures.ts): its hand-written gradients
 * against central finite differences, the recurrent decoder against the full-sequence forward, the
 * learned-position limit, and the attention layers against their direct quadratic forms.
 */
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '@slimswarm/protocol';
import { ATTN_EPS, dimsOf } from '../src/model/config.js';
import { drawFeatures } from '../src/model/features.js';
import { PositionOutOfRangeError } from '../src/model/inputs.js';
import { initParams, paramShapes } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import {
  NaiveDecoder,
  causalLinearAttentionBackward,
  causalLinearAttentionForward,
  createNaiveEngine,
  erf,
  naiveLoss,
  naiveLossAndGrad,
  naiveNextTokenProbs,
  softmaxAttentionLogits,
} from '../src/naive/index.js';
import type { AttentionShape, Params64 } from '../src/naive/index.js';
import { liveParams } from './decode-fixtures.js';
import { FAMILY_CONFIGS, FAMILY_NAMES } from './family-fixtures.js';

const families = FAMILY_NAMES.map((name) => [name, FAMILY_CONFIGS[name]] as const);

/** liveParams in float64: weights far from init, so every nonlinearity works in its nonlinear range. */
function lively(config: ModelConfig, label: string): Params64 {
  return Object.fromEntries(
    Object.entries(liveParams(config, label)).map(([name, t]) => [name, Float64Array.from(t)]),
  );
}

function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Rng(seed, 'test/tokens');
  return Int32Array.from({ length: n }, () => rng.nextU32() % vocab);
}

describe('erf', () => {
  it('matches reference values across the series / continued-fraction switch', () => {
    const cases: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
      [4.5, 0.9999999998033839],
      [-1.5, -0.9661051464753108],
      [5.9, 0.9999999999999999],
      [0.01, 0.011283415555849616],
      [1e-5, 1.1283791670579e-5],
    ];
    // within a few ulp of the correctly rounded value
    for (const [x, want] of cases)
      expect(Math.abs(erf(x) - want)).toBeLessThanOrEqual(5e-16 * Math.abs(want));
  });
});

describe('naive reference gradient', () => {
  // L = 7 is prime, L = 1 is the smallest sequence, L = 13 crosses no special size either.
  describe.each(families)('%s', (family, config) => {
    it.each([1, 7, 13])('matches central finite differences on every parameter tensor (L = %i)', (L) => {
      const features = drawFeatures(config, 3);
      const params = lively(config, `test/fd-${L}`);
      const tokens = randomTokens(L + 1, config.vocabSize, L);
      const { loss, grads } = naiveLossAndGrad(config, params, tokens, features);
      expect(loss).toBeCloseTo(naiveLoss(config, params, tokens, features), 14);
      expect(Object.keys(grads).sort()).toEqual(Object.keys(paramShapes(config)).sort());

      const rng = new Rng(L, `test/coords/${family}`);
      const step = 1e-5;
      let worst = 0;
      for (const [name, values] of Object.entries(params)) {
        // pos_emb rows past L get no gradient: sample the rows the sequence uses
        const live = name === 'pos_emb' ? L * config.dModel : values.length;
        const coords =
          live <= 8
            ? [...values.keys()].slice(0, live)
            : Array.from({ length: 8 }, () => rng.nextU32() % live);
        for (const c of coords) {
          const saved = values[c]!;
          values[c] = saved + step;
          const up = naiveLoss(config, params, tokens, features);
          values[c] = saved - step;
          const down = naiveLoss(config, params, tokens, features);
          values[c] = saved;
          const numeric = (up - down) / (2 * step);
          const analytic = grads[name]![c]!;
          // Relative error, absolute (≤ 1e-9) for gradients below 1e-3: tok_emb rows of unused tokens and
          // the first layer's wk at L = 1 have exactly zero gradient, and central differences of a loss of
          // a few nats carry ~1e-10 of rounding.
          const err = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic), 1e-3);
          worst = Math.max(worst, err);
          expect(err, `${name}[${c}]: numeric ${numeric}, analytic ${analytic}`).toBeLessThan(1e-6);
        }
      }
      expect(worst).toBeGreaterThan(0);
    });

    it('gives every parameter tensor a nonzero gradient', () => {
      const { grads } = naiveLossAndGrad(
        config,
        lively(config, 'test/nonzero'),
        randomTokens(10, config.vocabSize, 1),
        drawFeatures(config),
      );
      for (const [name, g] of Object.entries(grads))
        expect(
          g.some((x) => x !== 0),
          name,
        ).toBe(true);
    });
  });
});

describe('the fp64 recurrent decoder', () => {
  it.each(families)('%s: equals the full-sequence forward at every position', (_, config) => {
    const params = lively(config, 'test/decode');
    const features = drawFeatures(config, 1);
    const tokens = randomTokens(23, config.vocabSize, 4);
    const full = naiveNextTokenProbs(config, params, tokens, features); // (L, V)
    const decoder = new NaiveDecoder(config, params, features);
    const v = config.vocabSize;
    let worst = 0;
    tokens.forEach((token, t) => {
      expect(decoder.position).toBe(t);
      const probs = decoder.stepProbs(token); // (V)
      for (let c = 0; c < v; c++) worst = Math.max(worst, Math.abs(probs[c]! - full[t * v + c]!));
    });
    expect(worst).toBeLessThanOrEqual(1e-12);
    // one state per key/value head, not per query head
    const { n, kv, m, e } = dimsOf(config);
    expect(decoder.stateBytes).toBe(8 * n * kv * m * (e + 1));
  });
});

describe('learned positions', () => {
  const config = FAMILY_CONFIGS.gpt2;
  const P = config.maxPositions!;
  const params = lively(config, 'test/positions');
  const features = drawFeatures(config);

  it('take sequences of up to maxPositions tokens and refuse longer ones with a typed error', () => {
    const fits = randomTokens(P + 1, config.vocabSize, 2); // L = P inputs, positions 0 … P − 1
    expect(Number.isFinite(naiveLoss(config, params, fits, features))).toBe(true);
    const long = randomTokens(P + 2, config.vocabSize, 2);
    expect(() => naiveLoss(config, params, long, features)).toThrow(PositionOutOfRangeError);
    expect(() => naiveLossAndGrad(config, params, long, features)).toThrow(
      expect.objectContaining({ name: 'PositionOutOfRangeError', position: P, maxPositions: P }),
    );
    expect(() => softmaxAttentionLogits(config, params, long.subarray(0, P + 1))).toThrow(
      PositionOutOfRangeError,
    );
  });

  it('stop the decoder at position maxPositions, with its state kept', () => {
    const decoder = new NaiveDecoder(config, params, features);
    const tokens = randomTokens(P, config.vocabSize, 3);
    for (const t of tokens) decoder.step(t);
    expect(() => decoder.step(1)).toThrow(PositionOutOfRangeError);
    expect(decoder.position).toBe(P);
  });

  it('are not a limit for rotary models', () => {
    const llama = FAMILY_CONFIGS.llama;
    const tokens = randomTokens(P + 2, llama.vocabSize, 2);
    expect(Number.isFinite(naiveLoss(llama, lively(llama, 'x'), tokens, drawFeatures(llama)))).toBe(true);
  });
});

describe.each([
  ['one key/value head per query head', { heads: 2, kvHeads: 2, headSize: 3, features: 5 }],
  ['grouped-query, 3 query heads per key/value head', { heads: 6, kvHeads: 2, headSize: 3, features: 5 }],
] as [string, AttentionShape][])('causal linear attention, %s', (_, shape) => {
  const L = 9;
  const { heads: H, kvHeads: K, headSize: E, features: M } = shape;
  const rng = new Rng(11, 'test/attention');
  const phiQ = Float64Array.from({ length: L * H * M }, () => rng.uniform());
  const phiK = Float64Array.from({ length: L * K * M }, () => rng.uniform());
  const v = Float64Array.from({ length: L * K * E }, () => rng.normal());

  /** o_t = Σ_{τ≤t} (φq_t·φk_τ) v_τ / (Σ_{τ≤t} φq_t·φk_τ + eps), query head hd reading kv head ⌊hd·K/H⌋. */
  function quadratic(q: Float64Array, k: Float64Array, values: Float64Array): Float64Array {
    const out = new Float64Array(L * H * E);
    for (let hd = 0; hd < H; hd++) {
      const kh = Math.floor((hd * K) / H);
      for (let t = 0; t < L; t++) {
        let den = ATTN_EPS;
        const num = new Float64Array(E);
        for (let tau = 0; tau <= t; tau++) {
          let a = 0;
          for (let j = 0; j < M; j++) a += q[(t * H + hd) * M + j]! * k[(tau * K + kh) * M + j]!;
          den += a;
          for (let e = 0; e < E; e++) num[e]! += a * values[(tau * K + kh) * E + e]!;
        }
        for (let e = 0; e < E; e++) out[(t * H + hd) * E + e] = num[e]! / den;
      }
    }
    return out;
  }

  it('equals the direct quadratic form', () => {
    const out = new Float64Array(L * H * E);
    causalLinearAttentionForward(out, new Float64Array(L * H), phiQ, phiK, v, L, shape, ATTN_EPS);
    const want = quadratic(phiQ, phiK, v);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(want[i]!, 13);
  });

  it('backward equals finite differences of the quadratic form', () => {
    const dout = Float64Array.from({ length: L * H * E }, () => rng.normal());
    const objective = (q: Float64Array, k: Float64Array, values: Float64Array): number =>
      quadratic(q, k, values).reduce((sum, o, i) => sum + o * dout[i]!, 0);
    const out = new Float64Array(L * H * E);
    const den = new Float64Array(L * H);
    causalLinearAttentionForward(out, den, phiQ, phiK, v, L, shape, ATTN_EPS);
    const grads = [
      new Float64Array(L * H * M),
      new Float64Array(L * K * M),
      new Float64Array(L * K * E),
    ] as const;
    causalLinearAttentionBackward(grads[0], grads[1], grads[2], dout, out, den, phiQ, phiK, v, L, shape);
    const inputs = [phiQ, phiK, v] as const;
    inputs.forEach((x, which) => {
      for (let i = 0; i < x.length; i++) {
        const saved = x[i]!;
        x[i] = saved + 1e-6;
        const up = objective(...inputs);
        x[i] = saved - 1e-6;
        const down = objective(...inputs);
        x[i] = saved;
        expect(grads[which]![i]).toBeCloseTo((up - down) / 2e-6, 7);
      }
    });
  });
});

describe('createNaiveEngine', () => {
  const config = FAMILY_CONFIGS.performer;
  const params = initParams(config);
  const features = drawFeatures(config);
  const tokens = randomTokens(6, config.vocabSize, 5);

  it.each(families)(
    '%s: returns the reference loss and float32 gradients of every parameter',
    async (_, c) => {
      const engine = createNaiveEngine(c);
      const live = liveParams(c, 'test/engine');
      const ids = randomTokens(6, c.vocabSize, 5);
      const { loss, grads } = await engine.lossAndGrad(live, ids, drawFeatures(c));
      const ref = naiveLossAndGrad(c, live, ids, drawFeatures(c));
      expect(loss).toBe(ref.loss);
      expect(await engine.loss(live, ids, drawFeatures(c))).toBe(ref.loss);
      expect(Object.keys(grads).sort()).toEqual(Object.keys(paramShapes(c)).sort());
      for (const [name, g] of Object.entries(grads)) {
        expect(g).toBeInstanceOf(Float32Array);
        expect(g).toEqual(Float32Array.from(ref.grads[name]!));
      }
      await engine.dispose();
    },
  );

  it('rejects bad inputs with typed errors', async () => {
    const engine = createNaiveEngine(config);
    await expect(engine.loss(params, Int32Array.of(1), features)).rejects.toMatchObject({
      name: 'SequenceTooShortError',
    });
    await expect(engine.loss(params, Int32Array.of(1, config.vocabSize), features)).rejects.toMatchObject({
      name: 'TokenOutOfRangeError',
    });
    const { 'blocks.1.attn.wk': _dropped, ...missing } = params;
    await expect(engine.loss(missing, tokens, features)).rejects.toMatchObject({ name: 'ParamShapeError' });
    await expect(engine.loss(params, tokens, features.slice(1))).rejects.toMatchObject({
      name: 'FeatureShapeError',
    });
  });
});
