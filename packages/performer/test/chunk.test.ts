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
  stateSize,
} from '../src/chunk/index.js';
import type { StatsEngine } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { naiveLossAndGrad } from '../src/naive/index.js';
import { PositionOutOfRangeError } from '../src/model/inputs.js';
import { FAMILY_CONFIGS } from './family-fixtures.js';

// Shapes chosen so nothing divides evenly: L = 13 with C = 5 leaves a last chunk of 3.
const small = FAMILY_CONFIGS.performer;
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
let sharedEngine: Promise<StatsEngine> | undefined;
/** One C = 5 engine for several tests: its sessions are what takes time. */
const chunkOfFive = (): Promise<StatsEngine> =>
  (sharedEngine ??= track(createSlimEngine(small, { chunk: 5, threads: 1 })));
async function track(made: Promise<StatsEngine>): Promise<StatsEngine> {
  const engine = await made;
  engines.push(engine);
  return engine;
}
afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
});

/** `alsoForward`: check the forward-only loss too (one more session to create, so not everywhere). */
async function expectExact(
  engine: StatsEngine,
  config: ModelConfig,
  length: number,
  label: string,
  alsoForward = false,
) {
  const params = liveParams(config);
  const features = drawFeatures(config, 1);
  const tokens = randomTokens(config, length + 1, label);
  const reference = naiveLossAndGrad(config, params, tokens, features);
  const result = await engine.lossAndGrad(params, tokens, features);
  expect(Math.abs(result.loss - reference.loss)).toBeLessThan(1e-5);
  const worst = maxGradRelativeError(result.grads, reference.grads);
  expect(worst.error, worst.name).toBeLessThan(1e-4);
  if (alsoForward) {
    expect(Math.abs((await engine.loss(params, tokens, features)) - reference.loss)).toBeLessThan(1e-5);
  }
}

describe('SLiM engine gradients equal the float64 reference', () => {
  // Sessions are created per engine (the slow part), so one engine serves several lengths.
  it('C=5: L=13 (short last chunk), L=5 (C = L), L=3 (one short chunk)', async () => {
    const engine = await chunkOfFive();
    for (const length of [13, 5, 3]) await expectExact(engine, small, length, `c5-${length}`, true);
  });

  it('C=1, L=13', async () => {
    await expectExact(await track(createSlimEngine(small, { chunk: 1, threads: 1 })), small, 13, 'c1');
  });

  it('C=3 with every second entering state stored, L=13', async () => {
    const engine = await track(createSlimEngine(small, { chunk: 3, storeEvery: 2, threads: 1 }));
    await expectExact(engine, small, 13, 'stored');
    // Chunks 2 and 4 of 5 stored, plus the carried state, its gradient and one run's two outputs.
    expect(engine.stats.peakStateBytes).toBe(6 * stateSize(small) * 8);
  });

  it('one layer, C=4, L=10', async () => {
    await expectExact(await track(createSlimEngine(oneLayer, { chunk: 4, threads: 1 })), oneLayer, 10, 'one');
  });

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
    const engine = await chunkOfFive();
    const params = liveParams(small);
    await engine.lossAndGrad(params, randomTokens(small, 52, 'long'), drawFeatures(small, 0));
    // The carried state and state gradient, and one backward run's two outputs: whatever L.
    expect(engine.stats.peakStateBytes).toBe(4 * stateSize(small) * 8);
  });

  it('fails with typed errors', async () => {
    await expect(createSlimEngine(small, { chunk: 0 })).rejects.toThrow(InvalidEngineOptionsError);
    // The full engine creates no session before its first call, and these calls fail before that.
    const engine = await createFullEngine(small, { threads: 1 });
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

describe.each(Object.entries(FAMILY_CONFIGS))('family %s', (_, config) => {
  const params = liveParams(config);
  const features = drawFeatures(config, 1);

  it('gradients equal the float64 reference for chunk sizes that do not divide L (C=4, C=7; L=13)', async () => {
    const tokens = randomTokens(config, 14, 'family');
    const reference = naiveLossAndGrad(config, params, tokens, features);
    for (const chunk of [4, 7]) {
      const engine = await track(createSlimEngine(config, { chunk, threads: 1 }));
      const result = await engine.lossAndGrad(params, tokens, features);
      expect(Math.abs(result.loss - reference.loss), `C=${chunk}`).toBeLessThan(1e-5);
      const worst = maxGradRelativeError(result.grads, reference.grads);
      expect(worst.error, `C=${chunk}: ${worst.name}`).toBeLessThan(1e-4);
      expect(Object.keys(result.grads).sort()).toEqual(Object.keys(reference.grads).sort());
      await engine.dispose();
    }
  });

  it('split at any token and resumed with the carried states equals one pass', async () => {
    const runner = new ChunkRunner(config, 4, 'wasm');
    const tokens = randomTokens(config, 15, 'family-split');
    const seq = runner.prepare(params, tokens, features);
    const whole = await runner.forwardRange(seq, 0, 14, undefined, 1);
    expect(whole.stateOut.length).toBe(stateSize(config));
    for (const split of [1, 6, 13]) {
      const head = await runner.forwardRange(seq, 0, split, undefined, 1);
      const tail = await runner.forwardRange(seq, split, 14, head.stateOut, 1);
      expect(Math.abs(head.loss + tail.loss - whole.loss)).toBeLessThan(1e-5 * Math.abs(whole.loss));
      expect(relativeError(tail.stateOut, whole.stateOut)).toBeLessThan(1e-6);
    }
    await runner.dispose();
  });
});

describe('state size', () => {
  it('holds one state per key/value head: N·K·M·(E + 1)', () => {
    const { llama, qwen2 } = FAMILY_CONFIGS;
    expect(stateSize(llama)).toBe(2 * 2 * 7 * (4 + 1));
    expect(stateSize(qwen2)).toBe(2 * 1 * 5 * (4 + 1));
  });
});

describe('learned positions', () => {
  it('refuse a sequence longer than maxPositions with a typed error, before any run', async () => {
    const config = ModelConfig.parse({ ...FAMILY_CONFIGS.gpt2, maxPositions: 6 });
    const engine = await createFullEngine(config, { threads: 1 });
    const params = liveParams(config);
    const features = drawFeatures(config, 0);
    // L = 6 fits (positions 0..5), L = 7 does not.
    await expect(engine.loss(params, randomTokens(config, 7, 'fits'), features)).resolves.toBeGreaterThan(0);
    const refused = engine.loss(params, randomTokens(config, 8, 'long'), features);
    await expect(refused).rejects.toThrow(PositionOutOfRangeError);
    await expect(refused).rejects.toMatchObject({
      name: 'PositionOutOfRangeError',
      position: 6,
      maxPositions: 6,
    });
    await expect(refused).rejects.toThrow(InvalidTokensError);
    await engine.dispose();
  });
});
