import { describe, expect, it } from 'vitest';
import { ModelConfig } from '@slimswarm/protocol';
import { paramShapes } from '../src/model/params.js';
import { AdamW, clipGradNorm, decaysWeight } from '../src/optim/index.js';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

describe('clipGradNorm', () => {
  it('rescales to maxNorm when the global norm exceeds it and returns the norm before', () => {
    const grads = { a: f32(3, 0), b: f32(4) };
    expect(clipGradNorm(grads, 2)).toBe(5);
    expect([...grads.a, ...grads.b]).toEqual([...f32(1.2, 0, 1.6)]);
  });

  it('leaves small gradients alone, and maxNorm = 0 disables clipping', () => {
    const grads = { a: f32(3, 0), b: f32(4) };
    expect(clipGradNorm(grads, 6)).toBe(5);
    expect(clipGradNorm(grads, 0)).toBe(5);
    expect([...grads.a, ...grads.b]).toEqual([3, 0, 4]);
  });
});

describe('decaysWeight', () => {
  it('decays matrices and the embedding, not biases or LayerNorm parameters', () => {
    for (const name of [
      'tok_emb',
      'blocks.0.attn.wq',
      'blocks.3.attn.wo',
      'blocks.1.mlp.w1',
      'blocks.1.mlp.w2',
    ]) {
      expect(decaysWeight(name), name).toBe(true);
    }
    for (const name of [
      'blocks.0.ln1.weight',
      'blocks.0.ln2.bias',
      'blocks.2.mlp.b1',
      'ln_f.weight',
      'ln_f.bias',
    ]) {
      expect(decaysWeight(name), name).toBe(false);
    }
  });

  it('decays exactly the 2-D tensors of the model', () => {
    const config = ModelConfig.parse({
      dModel: 8,
      nLayers: 2,
      nHeads: 2,
      nFeatures: 4,
      vocabSize: 16,
      mlpRatio: 2,
      seed: 0,
    });
    for (const [name, shape] of Object.entries(paramShapes(config)))
      expect(decaysWeight(name), name).toBe(shape.length === 2);
  });
});

describe('AdamW', () => {
  const hparams = {
    kind: 'adamw',
    lr: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weightDecay: 0.5,
    gradClip: 2,
  } as const;

  it('matches two hand-computed steps (clipping, bias correction, decoupled decay only on matrices)', () => {
    const params = { 'blocks.0.attn.wq': f32(1, -2), 'blocks.0.ln1.weight': f32(0.5) };
    const opt = new AdamW(hparams, params);

    // step 1: norm 5 clipped to 2, so g = (1.2, 0) and (1.6); m̂ = g and v̂ = g², so the Adam step is lr·g/(|g|+eps)
    const norm1 = opt.update(params, { 'blocks.0.attn.wq': f32(3, 0), 'blocks.0.ln1.weight': f32(4) });
    expect(norm1).toBe(5);
    const g1 = [Math.fround(1.2), 0, Math.fround(1.6)];
    const wq0 = 1 * (1 - 0.1 * 0.5) - (0.1 * g1[0]!) / (g1[0]! + 1e-8);
    expect(params['blocks.0.attn.wq'][0]).toBeCloseTo(wq0, 6);
    expect(params['blocks.0.attn.wq'][1]).toBeCloseTo(-2 * (1 - 0.1 * 0.5), 6);
    const ln0 = 0.5 - (0.1 * g1[2]!) / (g1[2]! + 1e-8);
    expect(params['blocks.0.ln1.weight'][0]).toBeCloseTo(ln0, 6);

    // step 2: norm √2 is under the clip
    const norm2 = opt.update(params, { 'blocks.0.attn.wq': f32(-1, 1), 'blocks.0.ln1.weight': f32(0) });
    expect(norm2).toBeCloseTo(Math.SQRT2, 12);
    const c1 = 1 - 0.9 ** 2;
    const c2 = 1 - 0.99 ** 2;
    const m = [0.9 * 0.1 * g1[0]! + 0.1 * -1, 0.1 * 1, 0.9 * 0.1 * g1[2]!];
    const v = [0.99 * 0.01 * g1[0]! ** 2 + 0.01, 0.01, 0.99 * 0.01 * g1[2]! ** 2];
    const adam = (i: number): number => (0.1 * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
    expect(params['blocks.0.attn.wq'][0]).toBeCloseTo(Math.fround(wq0) * 0.95 - adam(0), 6);
    expect(params['blocks.0.attn.wq'][1]).toBeCloseTo(Math.fround(-1.9) * 0.95 - adam(1), 6);
    expect(params['blocks.0.ln1.weight'][0]).toBeCloseTo(Math.fround(ln0) - adam(2), 6);
    expect(opt.step).toBe(2);
  });

  it('resumes from exported state exactly as if never interrupted', () => {
    const grads = (k: number) => ({ w: f32(Math.sin(k), Math.cos(k), 0.3 * k) });
    const straight = { w: f32(0.1, 0.2, 0.3) };
    const opt = new AdamW(hparams, straight);
    for (let k = 0; k < 4; k++) opt.update(straight, grads(k));

    const resumed = { w: f32(0.1, 0.2, 0.3) };
    const first = new AdamW(hparams, resumed);
    for (let k = 0; k < 2; k++) first.update(resumed, grads(k));
    const second = new AdamW(hparams, resumed, first.exportState());
    for (let k = 2; k < 4; k++) second.update(resumed, grads(k));
    expect(resumed.w).toEqual(straight.w);
    expect(second.exportState()).toEqual(opt.exportState());
  });

  it('refuses a non-finite gradient without touching parameters or state', () => {
    const params = { w: f32(1, 2) };
    const opt = new AdamW(hparams, params);
    expect(() => opt.update(params, { w: f32(Number.NaN, 1) })).toThrow(
      expect.objectContaining({ name: 'NonFiniteGradientError' }),
    );
    expect(params.w).toEqual(f32(1, 2));
    expect(opt.step).toBe(0);
    expect(opt.exportState().m.w).toEqual(f32(0, 0));
  });

  it('rejects bad hyperparameters, mismatched gradients and mismatched state with typed errors', () => {
    const params = { w: f32(1, 2) };
    expect(() => new AdamW({ ...hparams, lr: 0 }, params)).toThrow(
      expect.objectContaining({ name: 'OptimizerConfigError' }),
    );
    const opt = new AdamW(hparams, params);
    expect(() => opt.update(params, { w: f32(1) })).toThrow(
      expect.objectContaining({ name: 'GradientShapeError' }),
    );
    expect(() => opt.update(params, { u: f32(1, 2) })).toThrow(
      expect.objectContaining({ name: 'GradientShapeError' }),
    );
    const state = { step: 1, m: { w: f32(0, 0) }, v: { w: f32(0) } };
    expect(() => new AdamW(hparams, params, state)).toThrow(
      expect.objectContaining({ name: 'GradientShapeError' }),
    );
  });
});
