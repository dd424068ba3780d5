import { describe, expect, it } from 'vitest';
import { paramShapes, softmaxAttentionLogits } from '@slimswarm/performer';
import { ModelConfig, encodeSafetensors, f32Tensor } from '@slimswarm/protocol';
import { allocateBaseWeights, encodeBaseWeights } from '@slimswarm/performer/weights';
import { importHfFolder, modelFromHfConfig } from '../src/node.js';
import {
  FIXTURE_TOKENIZER,
  hfFixture,
  storedTensors,
  writeHfFixture,
  writeHfFolder,
  type FixtureDtype,
  type HfFixture,
} from '../src/fixtures.js';
import type { HfFamily } from '../src/config.js';
import { hfLogits } from './hf-reference.js';
import { tempDirs } from './helpers.js';

const tempDir = tempDirs();
const FAMILIES: HfFamily[] = ['llama', 'qwen2', 'gpt2'];
const OPTS = { nFeatures: 16, seed: 42 };

async function imported(fx: HfFixture, opts: Parameters<typeof writeHfFixture>[2] = {}) {
  const dir = await tempDir();
  await writeHfFixture(dir, fx, opts);
  return importHfFolder(dir, OPTS);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Token ids spread over the vocabulary, repeated so attention sees equal keys at different positions. */
function tokens(vocab: number, L: number): Int32Array {
  return Int32Array.from({ length: L }, (_, t) => (t * 37 + 11 * (t % 3)) % vocab);
}

describe('importing each family', () => {
  it.each(FAMILIES)(
    '%s: softmax reference on the imported params = an HF-style forward on the HF tensors',
    async (family) => {
      const fx = hfFixture(family, { seed: 3 });
      const model = await imported(fx);
      const shapes = paramShapes(model.config);
      expect(Object.keys(model.params).sort()).toEqual(Object.keys(shapes).sort());
      for (const [name, shape] of Object.entries(shapes)) {
        expect(model.params[name]!.length, name).toBe(shape.reduce((a, b) => a * b, 1));
      }
      const ids = tokens(model.config.vocabSize, 19);
      const ours = softmaxAttentionLogits(model.config, model.params, ids);
      const theirs = hfLogits(fx, [...ids]);
      // The logits are O(1) and not all alike, so a layout mistake shows far above the tolerance.
      expect(Math.max(...theirs.map(Math.abs))).toBeGreaterThan(0.5);
      expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
    },
  );

  it('maps each family to the ModelConfig it is', async () => {
    const llama = modelFromHfConfig(hfFixture('llama').config, OPTS);
    expect(llama).toEqual({
      family: 'llama',
      architecture: 'LlamaForCausalLM',
      config: ModelConfig.parse({
        dModel: 16,
        nLayers: 2,
        nHeads: 4,
        nKvHeads: 2,
        nFeatures: 16,
        vocabSize: 263,
        ffnSize: 24,
        norm: 'rmsnorm',
        normEps: 1e-5,
        mlp: 'swiglu',
        positions: 'rope',
        ropeBase: 500,
        bias: { qkv: false, attnOut: false, mlp: false },
        tiedHead: false,
        seed: 42,
      }),
    });
    const qwen2 = modelFromHfConfig(hfFixture('qwen2').config, OPTS).config;
    expect([qwen2.nKvHeads, qwen2.bias, qwen2.tiedHead, qwen2.ropeBase]).toEqual([
      1,
      { qkv: true, attnOut: false, mlp: false },
      true,
      1_000_000,
    ]);
    const gpt2 = modelFromHfConfig(hfFixture('gpt2').config, { seed: 1 }).config;
    expect(gpt2).toMatchObject({
      nFeatures: 64,
      mlpRatio: 4,
      norm: 'layernorm',
      mlp: 'gelu-tanh',
      positions: 'learned',
      maxPositions: 24,
      bias: { qkv: true, attnOut: true, mlp: true },
      tiedHead: true,
    });
  });

  it('Llama with attention and MLP biases and a tied head, GPT-2 untied with a transformer. prefix', async () => {
    const llama = hfFixture('llama', {
      config: { attention_bias: true, mlp_bias: true, tie_word_embeddings: true },
    });
    const gpt2 = hfFixture('gpt2', { config: { tie_word_embeddings: false, n_inner: 22 } });
    const gptDir = await tempDir();
    const prefixed = Object.fromEntries(
      Object.entries(storedTensors(gpt2)).map(([n, t]) => [
        n === 'lm_head.weight' ? n : `transformer.${n}`,
        t,
      ]),
    );
    await writeHfFolder(gptDir, gpt2.config, prefixed);
    for (const [fx, model] of [
      [llama, await imported(llama)],
      [gpt2, await importHfFolder(gptDir, OPTS)],
    ] as const) {
      const ids = tokens(model.config.vocabSize, 9);
      expect(
        maxAbsDiff(softmaxAttentionLogits(model.config, model.params, ids), hfLogits(fx, [...ids])),
      ).toBeLessThan(1e-5);
    }
  });

  it('imports straight into the base checkpoint: the bytes canonical safetensors of the params gives', async () => {
    const fx = hfFixture('gpt2', { dtype: 'BF16' });
    const dir = await tempDir();
    await writeHfFixture(dir, fx);
    let bytes: Uint8Array = new Uint8Array(0);
    const model = await importHfFolder(dir, {
      ...OPTS,
      allocate: (config) => {
        const base = allocateBaseWeights(config);
        bytes = base.bytes;
        return base.params;
      },
    });
    const fresh = await importHfFolder(dir, OPTS);
    expect(model.params).toEqual(fresh.params);
    const shapes = paramShapes(model.config);
    const canonical = encodeSafetensors(
      Object.fromEntries(
        Object.entries(shapes).map(([name, shape]) => [name, f32Tensor(shape, fresh.params[name]!)]),
      ),
    );
    expect(bytes).toEqual(canonical);
    expect(encodeBaseWeights(model.config, fresh.params)).toEqual(canonical);
  });

  it('reads the tokenizer files into the spec the manifest carries', async () => {
    const model = await imported(hfFixture('qwen2'));
    expect(model.tokenizer.tokenizer).toEqual(FIXTURE_TOKENIZER.tokenizer);
    expect(model.tokenizer.spec).toMatchObject({
      kind: 'hf',
      tokenizer: { bytes: FIXTURE_TOKENIZER.tokenizer.length },
      config: { bytes: FIXTURE_TOKENIZER.config.length },
    });
  });
});

describe('dtypes and shards', () => {
  const DTYPES: FixtureDtype[] = ['F16', 'BF16'];

  it.each(DTYPES)(
    '%s weights import to exactly the values F32 weights of the same numbers give',
    async (dtype) => {
      const fx = hfFixture('llama', { dtype, seed: 8 });
      // Edge values of the format in one tensor: the smallest and largest subnormal, the largest normal,
      // signed zeros, a power of two and a value with every mantissa bit set.
      const edges =
        dtype === 'F16'
          ? [2 ** -24, 2 ** -14 - 2 ** -24, 65504, -0, 0, -(2 ** -24), 2 ** -14, 1 + 1023 / 1024]
          : [2 ** -133, 2 ** -126, 3.3895313892515355e38, -0, 0, -(2 ** -130), 1 + 127 / 128, -(2 ** 100)];
      fx.tensors['model.norm.weight']!.values.set(edges);
      const low = await imported(fx);
      const dir = await tempDir();
      await writeHfFolder(dir, fx.config, storedTensors(fx, 'F32'));
      const full = await importHfFolder(dir, OPTS);
      for (const name of Object.keys(full.params)) {
        expect(new Uint32Array(low.params[name]!.buffer), name).toEqual(
          new Uint32Array(full.params[name]!.buffer),
        );
      }
      expect([...low.params['ln_f.weight']!.subarray(0, edges.length)]).toEqual(edges);
    },
  );

  it.each(FAMILIES)('%s: sharded behind model.safetensors.index.json = one file', async (family) => {
    const fx = hfFixture(family, { dtype: 'BF16', seed: 5 });
    const single = await imported(fx);
    const sharded = await imported(fx, { shards: 3 });
    expect(sharded.params).toEqual(single.params);
    expect(sharded.config).toEqual(single.config);
  });
});

describe('config.json keys', () => {
  const llama = hfFixture('llama').config;

  it('ignores keys that do not change the math, takes HF defaults for keys left out', () => {
    const minimal = { ...llama };
    for (const key of [
      'num_key_value_heads',
      'head_dim',
      'rms_norm_eps',
      'rope_theta',
      'tie_word_embeddings',
      'hidden_act',
    ])
      delete minimal[key];
    const config = modelFromHfConfig({ ...minimal, some_future_key: { x: 1 } }, OPTS).config;
    expect([config.nKvHeads, config.normEps, config.ropeBase, config.tiedHead]).toEqual([
      undefined,
      1e-6,
      10_000,
      false,
    ]);
  });

  it('takes rope_theta from rope_parameters (newer transformers)', () => {
    const { rope_theta: _, ...rest } = llama;
    const config = modelFromHfConfig(
      { ...rest, rope_parameters: { rope_type: 'default', rope_theta: 123 } },
      OPTS,
    );
    expect(config.config.ropeBase).toBe(123);
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ['rope_scaling', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'UnsupportedConfigError'],
    [
      'rope_parameters.rope_type',
      { rope_parameters: { rope_type: 'yarn', rope_theta: 1e4 } },
      'UnsupportedConfigError',
    ],
    ['head_dim', { head_dim: 8 }, 'UnsupportedConfigError'],
    ['hidden_act', { hidden_act: 'gelu' }, 'UnsupportedConfigError'],
    ['use_sliding_window', { use_sliding_window: true }, 'UnsupportedConfigError'],
    ['final_logit_softcapping', { final_logit_softcapping: 30 }, 'UnsupportedConfigError'],
    ['odd head size', { hidden_size: 20, head_dim: 5 }, 'UnsupportedConfigError'],
    ['a missing size', { hidden_size: undefined }, 'InvalidConfigError'],
    ['a mistyped size', { num_hidden_layers: '2' }, 'InvalidConfigError'],
    ['another architecture', { architectures: ['MistralForCausalLM'] }, 'UnknownArchitectureError'],
    [
      'two architectures',
      { architectures: ['LlamaForCausalLM', 'GPT2LMHeadModel'] },
      'UnknownArchitectureError',
    ],
  ];
  it.each(refused)('refuses %s', (_, change, name) => {
    expect(() => modelFromHfConfig({ ...llama, ...change }, OPTS)).toThrow(expect.objectContaining({ name }));
  });

  it.each([
    [{ activation_function: 'relu' }],
    [{ scale_attn_by_inverse_layer_idx: true }],
    [{ scale_attn_weights: false }],
    [{ add_cross_attention: true }],
  ])('refuses GPT-2 with %j', (change) => {
    expect(() => modelFromHfConfig({ ...hfFixture('gpt2').config, ...change }, OPTS)).toThrow(
      expect.objectContaining({ name: 'UnsupportedConfigError' }),
    );
  });
});
