import { ModelConfig } from '@slimswarm/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChunkRunner,
  EngineDisposedError,
  InvalidEngineOptionsError,
  InvalidParamsError,
  InvalidTokensError,
  createFullEngine,
  createSlimEngine,
  maxGradRelativeError,
  relativeError,
} from '../src/chunk/index.js';
import type { StatsEngine } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { naiveLossAndGrad } from '../src/naive/index.js';

// Shapes chosen so nothing divides evenly: L = 13 with C = 5 leaves a last chunk of 3.
const small = ModelConfig.parse({
  dModel: 12,
  nLayers: 2,
  nHeads: 3,
  nFeatures: 5,
  vocabSize: 11,
  mlpRatio: 2,
  ropeBase: 7,
  seed: 3,
});
const oneLayer = ModelConfig.parse({
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 7,
  vocabSize: 19,
  mlpRatio: 3,
  seed: 11,
});

/** Init plus noise: the plain init's 0.02 weights make every gradient tiny and almost uniform. */
function liveParams(config: ModelConfig): Params {
  const params = initParams(config);
  const rng = new Rng(config.seed, 'test-noise');
  for (const value of Object.values(params)) {
    for (let i = 0; i < value.length; i++) value[i]! += 0.25 * rng.normal();
  }
  return params;
}

function randomTokens(config: ModelConfig, count: number, label: string): Int32Array {
  const rng = new Rng(config.seed, label);
  return Int32Array.from({ length: count }, () => Math.floor(rng.uniform() * config.vocabSize));
}

const engines: StatsEngine[] = [];
async function track(made: Promise<StatsEngine>): Promise<StatsEngine> {
  const engine = await made;
  engines.push(engine);
  return engine;
}
afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
});

describe('SLiM engine gradients equal the float64 reference', () => {
  const cases = [
    { label: 'L=13, C=5 (short last chunk)', config: small, length: 13, make: () => ({ chunk: 5 }) },
    { label: 'L=13, C=1', config: small, length: 13, make: () => ({ chunk: 1 }) },
    { label: 'L=13, C=L', config: small, length: 13, make: () => ({ chunk: 13 }) },
    {
      label: 'L=13, C=3, stored boundaries',
      config: small,
      length: 13,
      make: () => ({ chunk: 3, storeEvery: 2 }),
    },
    { label: 'one layer, L=10, C=4', config: oneLayer, length: 10, make: () => ({ chunk: 4 }) },
  ];
  for (const { label, config, length, make } of cases) {
    it(label, async () => {
      const engine = await track(createSlimEngine(config, { ...make(), threads: 1 }));
      const params = liveParams(config);
      const features = drawFeatures(config, 1);
      const tokens = randomTokens(config, length + 1, label);
      const reference = naiveLossAndGrad(config, params, tokens, features);
      const result = await engine.lossAndGrad(params, tokens, features);
      expect(Math.abs(result.loss - reference.loss)).toBeLessThan(1e-5);
      const worst = maxGradRelativeError(result.grads, reference.grads);
      expect(worst.error, worst.name).toBeLessThan(1e-4);
      expect(Math.abs((await engine.loss(params, tokens, features)) - reference.loss)).toBeLessThan(1e-5);
    });
  }

  it('full engine (one chunk of L, everything stored)', async () => {
    const engine = await track(createFullEngine(small, { threads: 1 }));
    const params = liveParams(small);
    const features = drawFeatures(small, 0);
    const tokens = randomTokens(small, 10, 'full');
    const reference = naiveLossAndGrad(small, params, tokens, features);
    const result = await engine.lossAndGrad(params, tokens, features);
    expect(Math.abs(result.loss - reference.loss)).toBeLessThan(1e-5);
    expect(maxGradRelativeError(result.grads, reference.grads).error).toBeLessThan(1e-4);
    expect(engine.stats.runs).toBe(1);
  });
});

describe('chunked forward', () => {
  it('split at any token and resumed with the carried states equals one pass', async () => {
    const runner = new ChunkRunner(small, 4, 'wasm');
    const params = liveParams(small);
    const features = drawFeatures(small, 0);
    const tokens = randomTokens(small, 15, 'split');
    const seq = runner.prepare(params, tokens, features);
    const whole = await runner.forwardRange(seq, 0, 14, undefined, 1);
    for (const split of [1, 6, 8, 13]) {
      const head = await runner.forwardRange(seq, 0, split, undefined, 1);
      const tail = await runner.forwardRange(seq, split, 14, head.stateOut, 1);
      expect(Math.abs(head.loss + tail.loss - whole.loss)).toBeLessThan(1e-5 * Math.abs(whole.loss));
      expect(relativeError(tail.stateOut, whole.stateOut)).toBeLessThan(1e-6);
    }
    await runner.dispose();
  });
});

describe('engine contract', () => {
  it('keeps the state memory flat in L', async () => {
    const engine = await track(createSlimEngine(small, { chunk: 4, threads: 1 }));
    const params = liveParams(small);
    const features = drawFeatures(small, 0);
    await engine.lossAndGrad(params, randomTokens(small, 9, 'short'), features);
    const short = engine.stats.peakStateBytes;
    await engine.lossAndGrad(params, randomTokens(small, 41, 'long'), features);
    expect(engine.stats.peakStateBytes).toBe(short);
    expect(short).toBeGreaterThan(0);
  });

  it('fails with typed errors', async () => {
    await expect(createSlimEngine(small, { chunk: 0 })).rejects.toThrow(InvalidEngineOptionsError);
    const engine = await createSlimEngine(small, { chunk: 4, threads: 1 });
    const params = liveParams(small);
    const features = drawFeatures(small, 0);
    await expect(engine.loss(params, Int32Array.of(1, 11), features)).rejects.toThrow(InvalidTokensError);
    await expect(engine.loss(params, Int32Array.of(1), features)).rejects.toThrow(InvalidTokensError);
    const { tok_emb: _dropped, ...missing } = params;
    await expect(engine.loss(missing, Int32Array.of(1, 2, 3), features)).rejects.toThrow(InvalidParamsError);
    await engine.dispose();
    await expect(engine.loss(params, Int32Array.of(1, 2), features)).rejects.toThrow(EngineDisposedError);
  });
});
