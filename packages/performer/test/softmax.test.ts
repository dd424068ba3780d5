/**
 * The softmax-attention teacher (ONNX graph, forward and autodiff backward) against the float64
 * softmax reference, and the softmax → FAVOR+ conversion error falling as M grows.
 */
import { describe, expect, it } from 'vitest';
import { ModelConfig } from '@slimswarm/protocol';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { naiveLoss, softmaxAttentionLogits, softmaxAttentionLoss } from '../src/naive/index.js';
import {
  conversionError,
  softmaxLogProbs,
  SoftmaxTeacher,
  trainSoftmaxTeacher,
} from '../src/softmax/index.js';
import { FAMILY_CONFIGS } from './family-fixtures.js';

function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Rng(seed, 'test/softmax-tokens');
  return Int32Array.from({ length: n }, () => rng.nextU32() % vocab);
}

/**
 * initParams with the embeddings and matrices scaled up by `scale`, wq and wk by `qkScale`, so attention
 * is sharp and matters to the logits: the 0.02-scale init gives nearly uniform attention whose output
 * barely reaches the logits, against which any approximation looks good.
 */
function sharpened(config: ModelConfig, scale: number, qkScale: number): Params {
  const params = initParams(config);
  for (const [name, data] of Object.entries(params)) {
    if (name.includes('.ln') || name.startsWith('ln_')) continue;
    const s = /attn\.(wq|wk)$/.test(name) ? qkScale : scale;
    for (let i = 0; i < data.length; i++) data[i]! *= s;
  }
  return params;
}

describe('softmax teacher graph', () => {
  for (const [family, config] of Object.entries(FAMILY_CONFIGS)) {
    it(`${family}: logits and loss match the float64 softmax reference, gradients its finite differences`, async () => {
      const params = sharpened(config, 20, 40);
      const batch = 2;
      const seqLen = 9;
      const tokens = randomTokens(batch * (seqLen + 1), config.vocabSize, 1);
      const teacher = new SoftmaxTeacher(config, { batch, seqLen });
      try {
        const inputs = new Int32Array(batch * seqLen);
        let loss = 0;
        const texts = [0, 1].map((s) => tokens.subarray(s * (seqLen + 1), (s + 1) * (seqLen + 1)));
        texts.forEach((text, s) => inputs.set(text.subarray(0, seqLen), s * seqLen));
        const logits = await teacher.logits(params, inputs);
        texts.forEach((text, s) => {
          const reference = softmaxAttentionLogits(config, params, text.subarray(0, seqLen));
          const scale = Math.max(...reference.map(Math.abs));
          const got = logits.subarray(s * seqLen * config.vocabSize, (s + 1) * seqLen * config.vocabSize);
          for (let i = 0; i < reference.length; i++) {
            expect(Math.abs(got[i]! - reference[i]!) / scale).toBeLessThan(1e-5);
          }
          loss += softmaxAttentionLoss(config, params, text) / batch;
        });

        const result = await teacher.lossAndGrad(params, tokens);
        expect(Math.abs(result.loss - loss)).toBeLessThan(1e-5 * loss);
        // Central differences of the fp64 reference loss, a few entries of every tensor.
        const lossAt = (p: Params): number =>
          texts.reduce((sum, text) => sum + softmaxAttentionLoss(config, p, text) / batch, 0);
        const rng = new Rng(2, 'test/softmax-fd');
        const h = 1e-3;
        for (const [name, data] of Object.entries(params)) {
          const grad = result.grads[name]!;
          const gradScale = Math.max(...grad.map(Math.abs));
          for (let probe = 0; probe < 3; probe++) {
            const i = rng.nextU32() % data.length;
            const original = data[i]!;
            const plus = { ...params, [name]: Float32Array.from(data) };
            const minus = { ...params, [name]: Float32Array.from(data) };
            plus[name]![i] = original + h;
            minus[name]![i] = original - h;
            const numeric = (lossAt(plus) - lossAt(minus)) / (plus[name]![i]! - minus[name]![i]!);
            expect(Math.abs(grad[i]! - numeric), `${name}[${i}]`).toBeLessThan(1e-3 * gradScale + 1e-6);
          }
        }
      } finally {
        await teacher.release();
      }
    });
  }

  it('training lowers the loss of a repetitive text', async () => {
    const config = FAMILY_CONFIGS.llama;
    const text = Int32Array.from({ length: 200 }, (_, i) => [1, 5, 2, 7, 7, 3][i % 6]!);
    const losses: number[] = [];
    await trainSoftmaxTeacher(config, text, {
      batch: 2,
      seqLen: 12,
      steps: 40,
      warmupSteps: 5,
      optimizer: { kind: 'adamw', lr: 1e-2 },
      seed: 3,
      onStep: (_, loss) => losses.push(loss),
    });
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
  });
});

describe('softmax → FAVOR+ conversion error', () => {
  // Llama family with E = 8 and a sequence long enough for attention to choose among many keys.
  const config = ModelConfig.parse({
    ...FAMILY_CONFIGS.llama,
    dModel: 16,
    nHeads: 2,
    nKvHeads: 1,
    nLayers: 2,
  });
  const params = sharpened(config, 20, 10);
  const texts = [0, 1].map((s) => randomTokens(33, config.vocabSize, 10 + s));
  const teacher = softmaxLogProbs(config, params, texts);
  // FAVOR+'s error is heavy-tailed in ω, so each M averages eight draws.
  const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
  const meanKl = (m: number): number =>
    SEEDS.reduce((sum, seed) => {
      const favor = ModelConfig.parse({ ...config, nFeatures: m, seed });
      return sum + conversionError(favor, params, texts, drawFeatures(favor), teacher).kl;
    }, 0) / SEEDS.length;

  it('falls as M grows, on a model whose attention is far from uniform', () => {
    // Far from uniform: zero queries give every key the same weight, which moves the predictions by
    // far more than FAVOR+ does at the largest M.
    const uniform = { ...params };
    for (let i = 0; i < config.nLayers; i++)
      uniform[`blocks.${i}.attn.wq`] = new Float32Array(params[`blocks.${i}.attn.wq`]!.length);
    const [p] = teacher;
    const q = softmaxLogProbs(config, uniform, texts)[0]!;
    let klUniform = 0;
    for (let c = 0; c < p!.length; c++) klUniform += Math.exp(p![c]!) * (p![c]! - q[c]!);
    klUniform /= texts[0]!.length - 1;

    // Theory says ∝ 1/M (8× per step); the margin allows for the heavy tail.
    const kl = [8, 64, 512].map(meanKl);
    expect(klUniform).toBeGreaterThan(0.1);
    expect(kl[0]!).toBeGreaterThan(1.5 * kl[1]!);
    expect(kl[1]!).toBeGreaterThan(1.5 * kl[2]!);
    expect(kl[2]!).toBeLessThan(0.5 * klUniform);
  });

  it("reports each reference's own cross-entropy", () => {
    const favor = ModelConfig.parse({ ...config, nFeatures: 16, seed: 1 });
    const features = drawFeatures(favor);
    const result = conversionError(favor, params, texts, features, teacher);
    const mean = (loss: (t: Int32Array) => number): number =>
      texts.reduce((sum, t) => sum + loss(t), 0) / texts.length;
    expect(result.ceSoftmax).toBeCloseTo(
      mean((t) => softmaxAttentionLoss(config, params, t)),
      10,
    );
    expect(result.ceFavor).toBeCloseTo(
      mean((t) => naiveLoss(favor, params, t, features)),
      10,
    );
    expect(result.tokens).toBe(64);
    expect(result.klMax).toBeGreaterThanOrEqual(result.kl);
  });
});
