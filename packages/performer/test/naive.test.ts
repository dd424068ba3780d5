import { describe, expect, it } from 'vitest';
import { ModelConfig } from '@slimswarm/protocol';
import { ATTN_EPS } from '../src/model/config.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams, paramShapes } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import {
  causalLinearAttentionBackward,
  causalLinearAttentionForward,
  createNaiveEngine,
  erf,
  naiveLoss,
  naiveLossAndGrad,
} from '../src/naive/index.js';
import type { Params64 } from '../src/naive/index.js';

const tiny = ModelConfig.parse({
  dModel: 8,
  nLayers: 2,
  nHeads: 2,
  nFeatures: 6, // not a multiple of E = 4: the last orthogonal block is partial
  vocabSize: 11,
  mlpRatio: 2,
  seed: 7,
});

/**
 * Weights far from the 0.02-scale init, so that attention, LayerNorm and GELU all work in their nonlinear
 * ranges and every parameter's gradient is large enough for a finite-difference check to mean something.
 */
function lively(config: ModelConfig, seed: number): Params64 {
  const rng = new Rng(seed, 'test/lively');
  const params: Params64 = {};
  for (const [name, shape] of Object.entries(paramShapes(config))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isLnWeight = name.includes('ln') && name.endsWith('.weight');
    params[name] = Float64Array.from({ length: n }, () => (isLnWeight ? 1 : 0) + 0.5 * rng.normal());
  }
  return params;
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
  for (const L of [1, 7, 13]) {
    it(`matches central finite differences on every parameter tensor (L = ${L})`, () => {
      const features = drawFeatures(tiny, 3);
      const params = lively(tiny, L);
      const tokens = randomTokens(L + 1, tiny.vocabSize, L);
      const { loss, grads } = naiveLossAndGrad(tiny, params, tokens, features);
      expect(loss).toBeCloseTo(naiveLoss(tiny, params, tokens, features), 14);

      const rng = new Rng(L, 'test/coords');
      const step = 1e-5;
      let worst = 0;
      for (const [name, values] of Object.entries(params)) {
        const coords =
          values.length <= 8
            ? [...values.keys()]
            : Array.from({ length: 8 }, () => rng.nextU32() % values.length);
        for (const c of coords) {
          const saved = values[c]!;
          values[c] = saved + step;
          const up = naiveLoss(tiny, params, tokens, features);
          values[c] = saved - step;
          const down = naiveLoss(tiny, params, tokens, features);
          values[c] = saved;
          const numeric = (up - down) / (2 * step);
          const analytic = grads[name]![c]!;
          // tok_emb rows of unused tokens, and the first layer's wk/wq at L = 1, have exactly zero gradient
          const err = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic), 1e-4);
          worst = Math.max(worst, err);
          expect(err, `${name}[${c}]: numeric ${numeric}, analytic ${analytic}`).toBeLessThan(1e-6);
        }
      }
      expect(worst).toBeGreaterThan(0);
    });
  }

  it('gives every parameter tensor a nonzero gradient', () => {
    const { grads } = naiveLossAndGrad(
      tiny,
      lively(tiny, 1),
      randomTokens(10, tiny.vocabSize, 1),
      drawFeatures(tiny),
    );
    for (const [name, g] of Object.entries(grads))
      expect(
        g.some((x) => x !== 0),
        name,
      ).toBe(true);
  });
});

describe('causal linear attention', () => {
  const [L, H, E, M] = [9, 2, 3, 5];
  const rng = new Rng(11, 'test/attention');
  const phiQ = Float64Array.from({ length: L * H * M }, () => rng.uniform());
  const phiK = Float64Array.from({ length: L * H * M }, () => rng.uniform());
  const v = Float64Array.from({ length: L * H * E }, () => rng.normal());

  /** o_t = Σ_{τ≤t} (φq_t·φk_τ) v_τ / (Σ_{τ≤t} φq_t·φk_τ + eps): the O(L²) quadratic form. */
  function quadratic(q: Float64Array, k: Float64Array, values: Float64Array): Float64Array {
    const out = new Float64Array(L * H * E);
    for (let hd = 0; hd < H; hd++) {
      for (let t = 0; t < L; t++) {
        let den = ATTN_EPS;
        const num = new Float64Array(E);
        for (let tau = 0; tau <= t; tau++) {
          let a = 0;
          for (let j = 0; j < M; j++) a += q[(t * H + hd) * M + j]! * k[(tau * H + hd) * M + j]!;
          den += a;
          for (let e = 0; e < E; e++) num[e]! += a * values[(tau * H + hd) * E + e]!;
        }
        for (let e = 0; e < E; e++) out[(t * H + hd) * E + e] = num[e]! / den;
      }
    }
    return out;
  }

  it('equals the direct quadratic form', () => {
    const out = new Float64Array(L * H * E);
    causalLinearAttentionForward(out, new Float64Array(L * H), phiQ, phiK, v, L, H, E, M, ATTN_EPS);
    const want = quadratic(phiQ, phiK, v);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(want[i]!, 13);
  });

  it('backward equals finite differences of the quadratic form', () => {
    const dout = Float64Array.from({ length: L * H * E }, () => rng.normal());
    const objective = (q: Float64Array, k: Float64Array, values: Float64Array): number =>
      quadratic(q, k, values).reduce((sum, o, i) => sum + o * dout[i]!, 0);
    const out = new Float64Array(L * H * E);
    const den = new Float64Array(L * H);
    causalLinearAttentionForward(out, den, phiQ, phiK, v, L, H, E, M, ATTN_EPS);
    const grads = [
      new Float64Array(L * H * M),
      new Float64Array(L * H * M),
      new Float64Array(L * H * E),
    ] as const;
    causalLinearAttentionBackward(grads[0], grads[1], grads[2], dout, out, den, phiQ, phiK, v, L, H, E, M);
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
  const config = ModelConfig.parse({ ...tiny, seed: 3 });
  const params = initParams(config);
  const features = drawFeatures(config);
  const tokens = randomTokens(6, config.vocabSize, 5);

  it('returns the reference loss and float32 gradients of every parameter', async () => {
    const engine = createNaiveEngine(config);
    const { loss, grads } = await engine.lossAndGrad(params, tokens, features);
    const ref = naiveLossAndGrad(config, params, tokens, features);
    expect(loss).toBe(ref.loss);
    expect(await engine.loss(params, tokens, features)).toBe(ref.loss);
    expect(Object.keys(grads).sort()).toEqual(Object.keys(paramShapes(config)).sort());
    for (const [name, g] of Object.entries(grads)) {
      expect(g).toBeInstanceOf(Float32Array);
      expect(g).toEqual(Float32Array.from(ref.grads[name]!));
    }
    await engine.dispose();
  });

  it('rejects bad inputs with typed errors', async () => {
    const engine = createNaiveEngine(config);
    await expect(engine.loss(params, Int32Array.of(1), features)).rejects.toMatchObject({
      name: 'SequenceTooShortError',
    });
    await expect(engine.loss(params, Int32Array.of(1, 11), features)).rejects.toMatchObject({
      name: 'TokenOutOfRangeError',
    });
    const { 'blocks.1.attn.wk': _dropped, ...missing } = params;
    await expect(engine.loss(missing, tokens, features)).rejects.toMatchObject({ name: 'ParamShapeError' });
    await expect(engine.loss(params, tokens, features.slice(1))).rejects.toMatchObject({
      name: 'FeatureShapeError',
    });
  });
});
