import { LoraConfig } from '@slimswarm/protocol';
import type { ModelConfig } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { ChunkRunner, createSlimEngine, relativeError } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initTrainable, loraFrozen } from '../src/model/lora.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { liveParams } from './decode-fixtures.js';
import { FAMILY_CONFIGS, FAMILY_NAMES } from './family-fixtures.js';

const LORA = LoraConfig.parse({ rank: 3, alpha: 5, targets: ['q', 'k', 'v', 'o', 'up'] });
// Resident weights reach some matmuls through Gemm (transB) instead of Transpose + MatMul: the same
// products, summed in another order.
const FP32_NOISE = 1e-5;

function tokensFor(config: ModelConfig, count: number): Int32Array {
  const rng = new Rng(config.seed, 'resident-tokens');
  return Int32Array.from({ length: count }, () => Math.floor(rng.uniform() * config.vocabSize));
}

function liveTrainable(config: ModelConfig): Params {
  const trainable = initTrainable(config, LORA);
  const rng = new Rng(config.seed, 'resident-trainable');
  for (const value of Object.values(trainable))
    for (let i = 0; i < value.length; i++) value[i]! += 0.3 * rng.normal();
  return trainable;
}

/** Every graph kind once over L = 13 in chunks of 5 (the last one short): what each run returns. */
async function everyKind(runner: ChunkRunner, config: ModelConfig, trainable: Params): Promise<number[][]> {
  const tokens = tokensFor(config, 14);
  const seq = runner.prepare(trainable, tokens, drawFeatures(config, 0));
  const zero = new Float64Array(runner.stateSize);
  const s5 = await runner.advance(seq, 0, 5, zero);
  const s10 = await runner.advance(seq, 5, 10, s5);
  const s13 = await runner.advance(seq, 10, 13, s10);
  const last = await runner.backward(
    seq,
    10,
    13,
    { kind: 'subtract', stateOut: s13 },
    new Float32Array(runner.stateSize),
    1 / 13,
  );
  const first = await runner.backward(seq, 0, 5, { kind: 'given', stateIn: zero }, last.stateGradIn, 1 / 13);
  const forward = await runner.forward(seq, 5, 10, Float32Array.from(s5), 1 / 13);
  const logits = await runner.logits(seq, tokens, 0, 4, new Float32Array(runner.stateSize));
  return [
    [...s13],
    [last.loss, ...last.grads, ...last.stateGradIn, ...last.stateIn],
    [first.loss, ...first.grads, ...first.stateGradIn],
    [forward.loss, ...forward.stateOut],
    [...logits.logits, ...logits.stateOut],
  ];
}

describe('resident LoRA base (initializers of one session) against the fed one (inputs of every run)', () => {
  it.each(FAMILY_NAMES)('every graph kind agrees within fp32 noise: %s family', async (family) => {
    const config = FAMILY_CONFIGS[family];
    const model = { lora: LORA, frozen: loraFrozen(config, LORA, liveParams(config, 'resident-base')) };
    const trainable = liveTrainable(config);
    const run = async (source: 'inputs' | 'resident'): Promise<number[][]> => {
      const runner = new ChunkRunner(config, 5, 'wasm', model, source);
      try {
        return await everyKind(runner, config, trainable);
      } finally {
        await runner.dispose();
      }
    };
    const fed = await run('inputs');
    const resident = await run('resident');
    fed.forEach((outputs, k) =>
      expect(relativeError(resident[k]!, outputs), `run ${k}`).toBeLessThan(FP32_NOISE),
    );
  });

  it("the engine no longer reads the caller's frozen arrays once created", async () => {
    const config = FAMILY_CONFIGS.llama;
    const model = { lora: LORA, frozen: loraFrozen(config, LORA, liveParams(config, 'resident-base')) };
    const trainable = liveTrainable(config);
    const tokens = tokensFor(config, 14);
    const features = drawFeatures(config, 0);
    const engine = await createSlimEngine(config, { chunk: 5, threads: 1 }, model);
    const before = await engine.lossAndGrad(trainable, tokens, features);
    for (const array of Object.values(model.frozen)) array.fill(Number.NaN);
    const after = await engine.lossAndGrad(trainable, tokens, features);
    expect(after.loss).toBe(before.loss);
    expect(after.grads).toEqual(before.grads);
    expect(await engine.loss(trainable, tokens, features)).toBeCloseTo(before.loss, 6);
    await engine.dispose();
  });
});
