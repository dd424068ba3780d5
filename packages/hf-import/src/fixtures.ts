/**
 * @slimswarm/hf-import/fixtures — tiny random Hugging Face model folders in the exact layouts transformers
 * writes (LlamaForCausalLM with grouped-query attention and an untied head, Qwen2ForCausalLM with q/k/v
 * biases and a tied head, GPT2LMHeadModel with Conv1D weights and its mask buffers), in F32, F16 or BF16,
 * in one file or sharded behind model.safetensors.index.json, with a small byte-level BPE tokenizer. For
 * tests: nothing is downloaded. Node-only (writes files).
 */
import { join } from 'node:path';
import { encodeSafetensors, f32ToF16Bits, type Tensor } from '@slimswarm/protocol';
import { Rng } from '@slimswarm/performer/weights';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import type { HfFamily } from './config.js';

export type FixtureDtype = 'F32' | 'F16' | 'BF16';

/** An HF tensor as the file holds it: HF names and layout, values exactly representable in the dtype. */
export interface HfTensor {
  shape: number[];
  values: Float32Array;
}

export interface HfFixture {
  family: HfFamily;
  /** config.json's content. */
  config: Record<string, unknown>;
  tensors: Record<string, HfTensor>;
  dtype: FixtureDtype;
}

/** The fixture tokenizer's vocabulary: 256 byte symbols, MERGES, `<|endoftext|>`; models use more ids. */
export const FIXTURE_VOCAB = 263;

/** Sizes a test may change (names as in config.json of the family). */
export type FixtureSizes = Partial<Record<string, number>>;

/** Small shapes that divide nothing evenly and exercise each family's options. */
const BASE_CONFIG: Record<HfFamily, Record<string, unknown>> = {
  // Keys a real Llama config carries that do not change the math, so the import must ignore them.
  llama: {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 4,
    intermediate_size: 24,
    vocab_size: FIXTURE_VOCAB,
    rms_norm_eps: 1e-5,
    rope_theta: 500,
    rope_scaling: null,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    mlp_bias: false,
    max_position_embeddings: 2048,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: null,
    initializer_range: 0.02,
    pretraining_tp: 1,
    attention_dropout: 0,
    use_cache: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.46.0',
  },
  qwen2: {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    num_key_value_heads: 1,
    intermediate_size: 20,
    vocab_size: FIXTURE_VOCAB + 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1_000_000,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    use_sliding_window: false,
    sliding_window: 32768,
    max_window_layers: 21,
    max_position_embeddings: 32768,
    torch_dtype: 'bfloat16',
  },
  gpt2: {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    n_embd: 15,
    n_layer: 2,
    n_head: 3,
    n_positions: 24,
    n_ctx: 24,
    n_inner: null,
    vocab_size: FIXTURE_VOCAB + 4,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    resid_pdrop: 0.1,
    embd_pdrop: 0.1,
    attn_pdrop: 0.1,
    scale_attn_weights: true,
    bos_token_id: FIXTURE_VOCAB - 1,
    eos_token_id: FIXTURE_VOCAB - 1,
  },
};

function num(config: Record<string, unknown>, key: string): number {
  return config[key] as number;
}

/** HF tensor names and shapes of a config (the family's state dict, buffers included where saved). */
function hfShapes(family: HfFamily, c: Record<string, unknown>): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  if (family === 'gpt2') {
    const [d, v, p] = [num(c, 'n_embd'), num(c, 'vocab_size'), num(c, 'n_positions')];
    const f = (c['n_inner'] as number | null) ?? 4 * d;
    shapes['wte.weight'] = [v, d];
    shapes['wpe.weight'] = [p, d];
    for (let i = 0; i < num(c, 'n_layer'); i++) {
      const h = `h.${i}`;
      Object.assign(shapes, {
        [`${h}.ln_1.weight`]: [d],
        [`${h}.ln_1.bias`]: [d],
        [`${h}.attn.bias`]: [1, 1, p, p],
        [`${h}.attn.c_attn.weight`]: [d, 3 * d],
        [`${h}.attn.c_attn.bias`]: [3 * d],
        [`${h}.attn.c_proj.weight`]: [d, d],
        [`${h}.attn.c_proj.bias`]: [d],
        [`${h}.ln_2.weight`]: [d],
        [`${h}.ln_2.bias`]: [d],
        [`${h}.mlp.c_fc.weight`]: [d, f],
        [`${h}.mlp.c_fc.bias`]: [f],
        [`${h}.mlp.c_proj.weight`]: [f, d],
        [`${h}.mlp.c_proj.bias`]: [d],
      });
    }
    shapes['ln_f.weight'] = [d];
    shapes['ln_f.bias'] = [d];
    if (c['tie_word_embeddings'] === false) shapes['lm_head.weight'] = [v, d];
    return shapes;
  }
  const [d, v, f, h] = [
    num(c, 'hidden_size'),
    num(c, 'vocab_size'),
    num(c, 'intermediate_size'),
    num(c, 'num_attention_heads'),
  ];
  const dkv = ((c['num_key_value_heads'] as number | undefined) ?? h) * (d / h);
  const qkvBias = family === 'qwen2' || c['attention_bias'] === true;
  shapes['model.embed_tokens.weight'] = [v, d];
  for (let i = 0; i < num(c, 'num_hidden_layers'); i++) {
    const l = `model.layers.${i}`;
    shapes[`${l}.input_layernorm.weight`] = [d];
    shapes[`${l}.self_attn.q_proj.weight`] = [d, d];
    shapes[`${l}.self_attn.k_proj.weight`] = [dkv, d];
    shapes[`${l}.self_attn.v_proj.weight`] = [dkv, d];
    if (qkvBias) {
      shapes[`${l}.self_attn.q_proj.bias`] = [d];
      shapes[`${l}.self_attn.k_proj.bias`] = [dkv];
      shapes[`${l}.self_attn.v_proj.bias`] = [dkv];
    }
    shapes[`${l}.self_attn.o_proj.weight`] = [d, d];
    if (family === 'llama' && c['attention_bias'] === true) shapes[`${l}.self_attn.o_proj.bias`] = [d];
    shapes[`${l}.post_attention_layernorm.weight`] = [d];
    shapes[`${l}.mlp.gate_proj.weight`] = [f, d];
    shapes[`${l}.mlp.up_proj.weight`] = [f, d];
    shapes[`${l}.mlp.down_proj.weight`] = [d, f];
    if (c['mlp_bias'] === true) {
      shapes[`${l}.mlp.gate_proj.bias`] = [f];
      shapes[`${l}.mlp.up_proj.bias`] = [f];
      shapes[`${l}.mlp.down_proj.bias`] = [d];
    }
  }
  shapes['model.norm.weight'] = [d];
  if (c['tie_word_embeddings'] !== true) shapes['lm_head.weight'] = [v, d];
  return shapes;
}

/** A copy of f32 values rounded to the nearest value the dtype holds (ties to even). */
export function roundToDtype(values: Float32Array, dtype: FixtureDtype): Float32Array {
  if (dtype === 'F32') return values;
  if (dtype === 'F16') return f16BitsToF32Exact(f32ToF16Bits(values));
  const out = Float32Array.from(values);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return out;
}

/** Widens f16 bits without protocol's helper, so the fixture and the importer do not share a converter. */
function f16BitsToF32Exact(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, (h) => {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
    return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  });
}

/**
 * A random model of `family`: norm weights near 1, biases and matrices small, everything exactly
 * representable in `dtype` so the same values can be written in any of the three dtypes (F32 holds them
 * all). `config` adds or overrides config.json keys (sizes, or options a test wants refused).
 */
export function hfFixture(
  family: HfFamily,
  opts: { dtype?: FixtureDtype; seed?: number; config?: Record<string, unknown> } = {},
): HfFixture {
  const dtype = opts.dtype ?? 'F32';
  const config = { ...BASE_CONFIG[family], ...opts.config };
  const rng = new Rng(opts.seed ?? 1, `hf-fixture-${family}`);
  const tensors: Record<string, HfTensor> = {};
  for (const [name, shape] of Object.entries(hfShapes(family, config))) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('.attn.bias')) {
      // GPT-2's causal-mask buffer: lower-triangular ones, not a parameter.
      const p = shape[3]!;
      for (let r = 0; r < p; r++) for (let col = 0; col <= r; col++) values[r * p + col] = 1;
    } else {
      const isNorm = /(norm|ln_\d|ln_f)\.weight$/.test(name);
      const scale = shape.length === 1 ? 0.1 : name.includes('emb') || name.startsWith('w') ? 0.5 : 0.25;
      for (let i = 0; i < values.length; i++) values[i] = (isNorm ? 1 : 0) + scale * rng.normal();
    }
    tensors[name] = { shape, values: roundToDtype(values, dtype) };
  }
  return { family, config, tensors, dtype };
}

/** The fixture's tensors encoded in `dtype` (default: the fixture's own; F32 holds any fixture exactly). */
export function storedTensors(
  fixture: HfFixture,
  dtype: FixtureDtype = fixture.dtype,
): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(fixture.tensors).map(([name, t]) => [name, encodeTensor(t.values, t.shape, dtype)]),
  );
}

export function encodeTensor(values: Float32Array, shape: number[], dtype: FixtureDtype): Tensor {
  if (dtype === 'F32') return { dtype: 'f32', shape, data: new Uint8Array(Float32Array.from(values).buffer) };
  if (dtype === 'F16') return { dtype: 'f16', shape, data: new Uint8Array(f32ToF16Bits(values).buffer) };
  const f32 = Float32Array.from(values);
  const bits = Uint16Array.from(new Uint32Array(f32.buffer), (b) => b >>> 16);
  return { dtype: 'bf16', shape, data: new Uint8Array(bits.buffer) };
}

export interface WriteFolderOptions {
  /** Split the weights over this many shards behind model.safetensors.index.json (default 1: one file). */
  shards?: number;
  /** tokenizer.json's bytes (default: the fixture tokenizer; null: none). */
  tokenizer?: Uint8Array | null;
}

export function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Writes config.json, the weights and the tokenizer files into `dir` (created if needed). */
export async function writeHfFolder(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, Tensor>,
  opts: WriteFolderOptions = {},
): Promise<void> {
  const metadata = { format: 'pt' };
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const names = Object.keys(tensors);
  const shards = opts.shards ?? 1;
  if (shards === 1) {
    await writeFileAtomic(join(dir, 'model.safetensors'), encodeSafetensors(tensors, metadata));
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const mine = names.filter((_, i) => i % shards === s);
      for (const name of mine) {
        weightMap[name] = shardName(s, shards);
        total += tensors[name]!.data.length;
      }
      const part = Object.fromEntries(mine.map((name) => [name, tensors[name]!]));
      await writeFileAtomic(join(dir, shardName(s, shards)), encodeSafetensors(part, metadata));
    }
    const index = { metadata: { total_size: total }, weight_map: weightMap };
    await writeFileAtomic(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2));
  }
  const tokenizer = opts.tokenizer === undefined ? FIXTURE_TOKENIZER.tokenizer : opts.tokenizer;
  if (tokenizer !== null) {
    await writeFileAtomic(join(dir, 'tokenizer.json'), tokenizer);
    await writeFileAtomic(join(dir, 'tokenizer_config.json'), FIXTURE_TOKENIZER.config);
  }
}

/** A fixture written as it is, in its own dtype. */
export async function writeHfFixture(
  dir: string,
  fixture: HfFixture,
  opts: WriteFolderOptions = {},
): Promise<void> {
  await writeHfFolder(dir, fixture.config, storedTensors(fixture), opts);
}

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for code points from 256. */
function byteSymbols(): string[] {
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    return String.fromCodePoint(printable ? b : 256 + extra++);
  });
}

const MERGES: [string, string][] = [
  ['Ġ', 't'],
  ['h', 'e'],
  ['Ġt', 'he'],
  ['i', 'n'],
  ['Ġ', 'a'],
  ['e', 'r'],
];

/**
 * A minimal byte-level BPE tokenizer.json (GPT-2's layout: ByteLevel pre-tokenizer and decoder, the 256
 * byte symbols, a few merges, `<|endoftext|>` as the last id) and its tokenizer_config.json.
 */
function fixtureTokenizer(): { tokenizer: Uint8Array; config: Uint8Array } {
  const vocab: Record<string, number> = {};
  byteSymbols().forEach((s, id) => (vocab[s] = id));
  for (const [a, b] of MERGES) vocab[a + b] = Object.keys(vocab).length;
  const endOfText = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = endOfText;
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: endOfText,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    add_prefix_space: false,
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    model_max_length: 1024,
    tokenizer_class: 'GPT2Tokenizer',
  };
  const utf8 = new TextEncoder();
  return { tokenizer: utf8.encode(JSON.stringify(json)), config: utf8.encode(JSON.stringify(config)) };
}

export const FIXTURE_TOKENIZER = fixtureTokenizer();
