import { LoraConfig } from '@slimswarm/protocol';
import type { ModelConfig } from '@slimswarm/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildChunkGraph,
  createSlimEngine,
  maxGradRelativeError,
  relativeError,
} from '../src/chunk/index.js';
import type { StatsEngine } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import {
  LoraTargetError,
  adaptedMatrices,
  frozenShapes,
  initAdapters,
  initTrainable,
  loraFrozen,
  loraScale,
  mergeAdapters,
  trainableShapes,
} from '../src/model/lora.js';
import type { Params } from '../src/model/params.js';
import { paramShapes } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import {
  createNaiveEngine,
  naiveLossAndGrad,
  naiveLoraLoss,
  naiveLoraLossAndGrad,
} from '../src/naive/index.js';
import type { Params64 } from '../src/naive/index.js';
import { Trainer } from '../src/train/trainer.js';
import {
  CheckpointFormatError,
  CheckpointLoraMismatchError,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../src/checkpoint/index.js';
import { liveParams } from './decode-fixtures.js';
import { FAMILY_CONFIGS } from './family-fixtures.js';

// Rank 3 into matrices of 12 and 24 columns: nothing divides evenly.
const lora = (factors: 'b' | 'ab', targets: LoraConfig['targets']): LoraConfig =>
  LoraConfig.parse({ factors, rank: 3, alpha: 5, targets });
const ATTN_AND_MLP = ['q', 'v', 'o', 'up', 'down'] as const;

/** Adapters away from their start (B = 0 makes every dA vanish), trainable half only. */
function liveTrainable(config: ModelConfig, l: LoraConfig, label: string): Params {
  const trainable = initTrainable(config, l);
  const rng = new Rng(config.seed, label);
  for (const value of Object.values(trainable))
    for (let i = 0; i < value.length; i++) value[i]! += 0.3 * rng.normal();
  return trainable;
}

/** max over (i, k) of Σ_j |dW_ij|·|B_kj|: the size of the terms dA_ik sums. */
function absoluteProductScale(
  dw: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  cols: number,
  rank: number,
): number {
  let scale = 0;
  for (let i = 0; i < rows; i++)
    for (let k = 0; k < rank; k++) {
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.abs(dw[i * cols + j]! * b[k * cols + j]!);
      scale = Math.max(scale, sum);
    }
  return scale;
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < b.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  return diff;
}

function randomTokens(config: ModelConfig, count: number, label: string): Int32Array {
  const rng = new Rng(config.seed, label);
  return Int32Array.from({ length: count }, () => Math.floor(rng.uniform() * config.vocabSize));
}

describe('LoRA adapters', () => {
  const config = FAMILY_CONFIGS.performer;

  it("splits trainable and frozen tensors: 'b' trains B only, 'ab' both factors", () => {
    const b = lora('b', ['q', 'down']);
    const names = adaptedMatrices(config, b).map((m) => m.name);
    expect(names).toEqual(['blocks.0.attn.wq', 'blocks.0.mlp.w2', 'blocks.1.attn.wq', 'blocks.1.mlp.w2']);
    expect(Object.keys(trainableShapes(config, b))).toEqual(names.map((n) => `${n}.lora_b`));
    expect(trainableShapes(config, b)['blocks.0.mlp.w2.lora_b']).toEqual([3, 12]);
    const frozen = frozenShapes(config, b);
    expect(Object.keys(frozen)).toEqual([
      ...Object.keys(paramShapes(config)),
      ...names.map((n) => `${n}.lora_a`),
    ]);
    expect(frozen['blocks.0.mlp.w2.lora_a']).toEqual([24, 3]);
    const ab = lora('ab', ['q', 'down']);
    expect(Object.keys(trainableShapes(config, ab))).toHaveLength(2 * names.length);
    expect(Object.keys(frozenShapes(config, ab))).toEqual(Object.keys(paramShapes(config)));
    expect(trainableShapes(config)).toEqual(paramShapes(config));
  });

  it('refuses a target the model has no matrix for', () => {
    expect(() => adaptedMatrices(config, lora('b', ['gate']))).toThrow(LoraTargetError);
  });

  it('starts as the base (B = 0) with A drawn from the seed, the same for every peer', () => {
    const l = lora('b', ['q']);
    const first = initAdapters(config, l);
    expect(initAdapters(config, l)).toEqual(first);
    expect(first['blocks.1.attn.wq.lora_b']!.every((x) => x === 0)).toBe(true);
    const a = first['blocks.1.attn.wq.lora_a']!;
    const std = Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    expect(std).toBeGreaterThan(0.5 / Math.sqrt(12));
    expect(std).toBeLessThan(2 / Math.sqrt(12));
    // Each matrix has its own stream: adding a target leaves the others' A as they were.
    expect(initAdapters(config, lora('b', ['q', 'v']))['blocks.1.attn.wq.lora_a']).toEqual(a);
  });

  it('merges into full weights: W + (alpha / rank) · A B', () => {
    const l = lora('ab', ['k', 'up']);
    const base = liveParams(config, 'lora-base');
    const tensors = { ...base, ...liveTrainable(config, l, 'lora-merge') };
    const merged = mergeAdapters(config, l, tensors);
    expect(Object.keys(merged)).toEqual(Object.keys(paramShapes(config)));
    expect(merged['tok_emb']).toBe(base['tok_emb']);
    const w = base['blocks.1.mlp.w1']!;
    const a = tensors['blocks.1.mlp.w1.lora_a']!;
    const b = tensors['blocks.1.mlp.w1.lora_b']!;
    const expected = Float64Array.from(w, (x, idx) => {
      const [i, j] = [Math.floor(idx / 24), idx % 24];
      let dot = 0;
      for (let k = 0; k < 3; k++) dot += a[i * 3 + k]! * b[k * 24 + j]!;
      return x + (5 / 3) * dot;
    });
    expect(relativeError(merged['blocks.1.mlp.w1']!, expected)).toBeLessThan(1e-6);
  });

  it("with 'b' the mean of peers' B is the mean of their updates s·A·B; with 'ab' the factors' mean is not", () => {
    const base = liveParams(config, 'lora-base');
    for (const factors of ['b', 'ab'] as const) {
      const l = lora(factors, ['v']);
      const frozen = loraFrozen(config, l, base);
      const peers = [0, 1, 2].map((p) => liveTrainable(config, l, `lora-peer-${p}`));
      const meanOf = (xs: Float32Array[]): Float32Array =>
        Float32Array.from(xs[0]!, (_, i) => xs.reduce((s, x) => s + x[i]!, 0) / xs.length);
      const meanFactors: Params = {};
      for (const name of Object.keys(peers[0]!)) meanFactors[name] = meanOf(peers.map((p) => p[name]!));
      const name = 'blocks.0.attn.wv';
      const mergedOfMean = mergeAdapters(config, l, { ...frozen, ...meanFactors })[name]!;
      const meanOfMerged = meanOf(peers.map((p) => mergeAdapters(config, l, { ...frozen, ...p })[name]!));
      const update = (w: Float32Array): Float64Array => Float64Array.from(w, (x, i) => x - base[name]![i]!);
      const error = relativeError(update(mergedOfMean), update(meanOfMerged));
      if (factors === 'b') expect(error).toBeLessThan(1e-5);
      else expect(error).toBeGreaterThan(1e-2);
    }
  });
});

describe('LoRA gradients', () => {
  const engines: StatsEngine[] = [];
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.dispose()));
  });

  // The fp64 reference's projection checked by central differences of its own loss.
  it.each([
    ['performer', 'b', [...ATTN_AND_MLP]],
    ['performer', 'ab', [...ATTN_AND_MLP]],
    ['llama', 'ab', ['q', 'k', 'v', 'o', 'gate', 'up', 'down']],
  ] as const)(
    "fp64 reference matches finite differences: %s family, factors '%s'",
    (family, factors, targets) => {
      const config = FAMILY_CONFIGS[family];
      const l = lora(factors, [...targets]);
      const model = { lora: l, frozen: loraFrozen(config, l, liveParams(config, 'lora-base')) };
      const trainable = liveTrainable(config, l, 'lora-fd');
      const tokens = randomTokens(config, 10, 'lora-fd-tokens');
      const features = drawFeatures(config, 0);
      const { grads } = naiveLoraLossAndGrad(config, model, trainable, tokens, features);
      const rng = new Rng(config.seed, 'lora-fd-pick');
      const h = 1e-5;
      const trainable64: Params64 = Object.fromEntries(
        Object.entries(trainable).map(([name, x]) => [name, Float64Array.from(x)]),
      );
      for (const name of Object.keys(trainable)) {
        const x = trainable64[name]!;
        const i = Math.floor(rng.uniform() * x.length);
        const at = (delta: number): number => {
          const shifted = x.slice();
          shifted[i]! += delta;
          return naiveLoraLoss(config, model, { ...trainable64, [name]: shifted }, tokens, features);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(grads[name]![i]! - numeric)).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
      }
    },
  );

  const engineCases = [
    ['performer', 'b', [...ATTN_AND_MLP]],
    ['performer', 'ab', [...ATTN_AND_MLP]],
    ['llama', 'b', ['q', 'k', 'v', 'o', 'gate', 'up', 'down']],
    ['llama', 'ab', ['k', 'o', 'gate', 'down']],
  ] as const;
  it.each(engineCases)(
    "SLiM engine (L = 13, C = 5) matches the fp64 reference within 1e-4: %s family, factors '%s'",
    async (family, factors, targets) => {
      const config = FAMILY_CONFIGS[family];
      const l = lora(factors, [...targets]);
      const model = { lora: l, frozen: loraFrozen(config, l, liveParams(config, 'lora-base')) };
      const engine = await createSlimEngine(config, { chunk: 5, threads: 1 }, model);
      engines.push(engine);
      const trainable = liveTrainable(config, l, 'lora-engine');
      const tokens = randomTokens(config, 14, 'lora-engine-tokens');
      const features = drawFeatures(config, 0);
      const expected = naiveLoraLossAndGrad(config, model, trainable, tokens, features);
      const actual = await engine.lossAndGrad(trainable, tokens, features);
      expect(Object.keys(actual.grads).sort()).toEqual(Object.keys(trainableShapes(config, l)).sort());
      expect(Math.abs(actual.loss - expected.loss)).toBeLessThan(1e-5 * expected.loss);
      const bs = Object.keys(expected.grads).filter((name) => name.endsWith('.lora_b'));
      const pick = (g: Record<string, ArrayLike<number>>): Record<string, ArrayLike<number>> =>
        Object.fromEntries(bs.map((name) => [name, g[name]!]));
      expect(maxGradRelativeError(pick(actual.grads), pick(expected.grads)).error).toBeLessThan(1e-4);
      if (factors === 'ab') {
        // dA = s·dW·Bᵀ cancels (to ~1e-2 of its terms for the query matrix): judged on the scale of its
        // terms, max |s|·|dW|·|B|ᵀ, as a matmul's rounding is; dW from the reference at the merged weights.
        const merged = mergeAdapters(config, l, { ...model.frozen, ...trainable });
        const dW = naiveLossAndGrad(config, merged, tokens, features).grads;
        for (const m of adaptedMatrices(config, l)) {
          const terms = absoluteProductScale(dW[m.name]!, trainable[m.b]!, m.in, m.out, l.rank);
          const scale = loraScale(l) * terms;
          const diff = maxAbsDifference(actual.grads[m.a]!, expected.grads[m.a]!);
          expect(diff / scale, m.a).toBeLessThan(1e-4);
        }
      }
      expect(await engine.loss(trainable, tokens, features)).toBeCloseTo(expected.loss, 5);
    },
  );

  it('chunk graphs take the base as a frozen input and build no gradient for it', () => {
    const config = FAMILY_CONFIGS.performer;
    const text = (graph: Uint8Array): string => new TextDecoder('latin1').decode(graph);
    const adapted = text(buildChunkGraph(config, 5, 'given', lora('b', ['q'])));
    const full = text(buildChunkGraph(config, 5, 'given'));
    expect(adapted).toContain('frozen');
    expect(full).not.toContain('frozen');
    // Scatter-adds are the gradients of gathers: the loss's target logits in both, the embedding's only
    // when tok_emb trains.
    const scatters = (graph: string): number => graph.split('ScatterElements').length - 1;
    expect(scatters(adapted)).toBeGreaterThan(0);
    expect(scatters(adapted)).toBeLessThan(scatters(full));
    expect(adapted.length).toBeLessThan(full.length);
  });

  it('the trainer, its AdamW state and its checkpoint hold the trainable adapters and the base hash only', async () => {
    const config = FAMILY_CONFIGS.performer;
    const l = lora('b', ['q', 'v']);
    const frozen = loraFrozen(config, l, liveParams(config, 'lora-base'));
    const spec = { config: l, baseSha256: 'ab'.repeat(32) };
    const trainer = new Trainer({
      config,
      lora: spec,
      optimizer: { kind: 'adamw', lr: 1e-2 },
      engine: createNaiveEngine(config, { lora: l, frozen }),
    });
    expect(trainer.getParams()).toEqual(initTrainable(config, l));
    await trainer.step(randomTokens(config, 9, 'lora-trainer'));
    const ckpt = trainer.toCheckpoint();
    const names = Object.keys(trainableShapes(config, l)).sort();
    expect(Object.keys(ckpt.params).sort()).toEqual(names);
    expect(Object.keys(ckpt.optimizer!.m).sort()).toEqual(names);
    const moments = Object.values(ckpt.optimizer!.m).reduce((s, x) => s + x.length, 0);
    expect(moments).toBe(2 * 2 * 3 * 12); // 2 layers × (q, v) × rank 3 × 12 columns
    expect(ckpt.params['blocks.0.attn.wq.lora_b']!.some((x) => x !== 0)).toBe(true);

    const bytes = encodeCheckpoint(ckpt);
    // Adapters and moments only: 3 × 144 floats plus the header, far below the base's parameters.
    expect(bytes.byteLength).toBeLessThan(3 * 144 * 4 + 4096);
    const back = decodeCheckpoint(bytes, { config, lora: spec });
    expect(back).toEqual(ckpt);
    expect(
      Trainer.fromCheckpoint(back, {
        optimizer: { kind: 'adamw', lr: 1e-2 },
        engine: createNaiveEngine(config, { lora: l, frozen }),
      }).getParams(),
    ).toEqual(ckpt.params);
    expect(() => decodeCheckpoint(bytes, { lora: { ...spec, baseSha256: 'cd'.repeat(32) } })).toThrow(
      CheckpointLoraMismatchError,
    );
    expect(() => decodeCheckpoint(bytes, { lora: { ...spec, config: lora('ab', ['q', 'v']) } })).toThrow(
      CheckpointLoraMismatchError,
    );
    const { lora: _, ...plain } = ckpt;
    expect(() => encodeCheckpoint(plain)).toThrow(CheckpointFormatError);
  });
});
