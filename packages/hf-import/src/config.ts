/**
 * config.json of a Hugging Face causal LM → our ModelConfig. The schemas name only the keys that decide
 * the math; the rest of a real config (bos_token_id, torch_dtype, transformers_version, …) is ignored,
 * except the keys below that would change the model in ways ours cannot express: those are refused, never
 * dropped. Keys a config may omit take the defaults of transformers' LlamaConfig / Qwen2Config /
 * GPT2Config, because save_pretrained leaves out some values equal to them.
 */
import { ModelConfig } from '@slimswarm/protocol';
import { z } from 'zod';
import { InvalidConfigError, UnknownArchitectureError, UnsupportedConfigError } from './errors.js';

export type HfFamily = 'llama' | 'qwen2' | 'gpt2';

export const ARCHITECTURES: Readonly<Record<string, HfFamily>> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  GPT2LMHeadModel: 'gpt2',
};

export interface ImportOptions {
  /** Random features per head (M); FAVOR+ replaces the checkpoint's softmax attention. Default 64. */
  nFeatures?: number;
  /** Seeds the random features (every peer derives the same ω from it). */
  seed: number;
}

export const DEFAULT_FEATURES = 64;

export interface HfModel {
  family: HfFamily;
  architecture: string;
  config: ModelConfig;
}

const Size = z.number().int().positive();
const Eps = z.number().positive();

const Architectures = z.object({ architectures: z.array(z.string()).min(1) }).loose();

/** RoPE variants beyond the plain one (linear, dynamic, yarn, llama3, …) rescale frequencies; ours does not. */
const RopeParameters = z
  .object({ rope_type: z.string().optional(), rope_theta: z.number().optional() })
  .loose();

const LlamaLike = z
  .object({
    hidden_size: Size,
    num_hidden_layers: Size,
    num_attention_heads: Size,
    num_key_value_heads: Size.nullish(),
    head_dim: Size.nullish(),
    intermediate_size: Size,
    vocab_size: Size,
    rms_norm_eps: Eps.default(1e-6),
    rope_theta: z.number().positive().optional(),
    rope_scaling: z.unknown().optional(),
    /** transformers ≥ 4.56 writes rope_theta and the RoPE type here instead. */
    rope_parameters: RopeParameters.nullish(),
    hidden_act: z.string().default('silu'),
    tie_word_embeddings: z.boolean().default(false),
    attention_bias: z.boolean().default(false),
    mlp_bias: z.boolean().default(false),
    /** Qwen2: sliding-window attention on some layers. */
    use_sliding_window: z.boolean().default(false),
    layer_types: z.array(z.string()).optional(),
    partial_rotary_factor: z.number().optional(),
  })
  .loose();

const Gpt2 = z
  .object({
    n_embd: Size,
    n_layer: Size,
    n_head: Size,
    n_positions: Size.optional(),
    /** Older GPT-2 configs name the context length n_ctx. */
    n_ctx: Size.optional(),
    n_inner: Size.nullish(),
    vocab_size: Size,
    layer_norm_epsilon: Eps.default(1e-5),
    activation_function: z.string().default('gelu_new'),
    tie_word_embeddings: z.boolean().default(true),
    scale_attn_weights: z.boolean().default(true),
    scale_attn_by_inverse_layer_idx: z.boolean().default(false),
    add_cross_attention: z.boolean().default(false),
  })
  .loose();

/** Keys any of the three may carry that change the math when set; refused unless absent or null. */
const REFUSED_WHEN_SET = ['attn_logit_softcapping', 'final_logit_softcapping', 'sliding_window_pattern'];

function parse<T extends z.ZodType>(schema: T, json: unknown): z.infer<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidConfigError(`config.json ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Our ModelConfig's own limits and rules (e.g. an odd RoPE head size) reported as unsupported options. */
function ourConfig(raw: z.input<typeof ModelConfig>): ModelConfig {
  const parsed = ModelConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UnsupportedConfigError(issue.path.join('.') || 'model', issue.message);
  }
  return parsed.data;
}

function llamaConfig(json: unknown, family: 'llama' | 'qwen2', opts: ImportOptions): ModelConfig {
  const c = parse(LlamaLike, json);
  if (c.hidden_act !== 'silu') {
    throw new UnsupportedConfigError('hidden_act', `${c.hidden_act} (the SwiGLU MLP needs silu)`);
  }
  const heads = c.num_attention_heads;
  if (c.hidden_size % heads !== 0) {
    throw new UnsupportedConfigError('num_attention_heads', `${heads} does not divide hidden_size`);
  }
  const headSize = c.hidden_size / heads;
  if (c.head_dim != null && c.head_dim !== headSize) {
    throw new UnsupportedConfigError(
      'head_dim',
      `${c.head_dim}, ours is hidden_size / num_attention_heads = ${headSize}`,
    );
  }
  if (c.rope_scaling != null) {
    throw new UnsupportedConfigError('rope_scaling', `${JSON.stringify(c.rope_scaling)} (only plain RoPE)`);
  }
  const ropeType = c.rope_parameters?.rope_type ?? 'default';
  if (ropeType !== 'default') {
    throw new UnsupportedConfigError('rope_parameters.rope_type', `${ropeType} (only plain RoPE)`);
  }
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== 1) {
    throw new UnsupportedConfigError(
      'partial_rotary_factor',
      `${c.partial_rotary_factor} (RoPE on every dimension only)`,
    );
  }
  if (c.use_sliding_window || c.layer_types?.some((t) => t !== 'full_attention')) {
    throw new UnsupportedConfigError('use_sliding_window', 'sliding-window attention');
  }
  const kv = c.num_key_value_heads ?? heads;
  // Qwen2 always biases q, k and v (and nothing else); Llama biases q, k, v and o together, or none.
  const bias =
    family === 'qwen2'
      ? { qkv: true, attnOut: false, mlp: false }
      : { qkv: c.attention_bias, attnOut: c.attention_bias, mlp: c.mlp_bias };
  return ourConfig({
    dModel: c.hidden_size,
    nLayers: c.num_hidden_layers,
    nHeads: heads,
    ...(kv === heads ? {} : { nKvHeads: kv }),
    nFeatures: opts.nFeatures ?? DEFAULT_FEATURES,
    vocabSize: c.vocab_size,
    ffnSize: c.intermediate_size,
    norm: 'rmsnorm',
    normEps: c.rms_norm_eps,
    mlp: 'swiglu',
    positions: 'rope',
    ropeBase: c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10_000,
    bias,
    tiedHead: c.tie_word_embeddings,
    seed: opts.seed,
  });
}

const GPT2_ACTIVATIONS: Readonly<Record<string, 'gelu' | 'gelu-tanh'>> = {
  gelu_new: 'gelu-tanh',
  gelu_pytorch_tanh: 'gelu-tanh',
  gelu: 'gelu',
};

function gpt2Config(json: unknown, opts: ImportOptions): ModelConfig {
  const c = parse(Gpt2, json);
  const mlp = GPT2_ACTIVATIONS[c.activation_function];
  if (mlp === undefined) {
    throw new UnsupportedConfigError('activation_function', `${c.activation_function} (gelu_new or gelu)`);
  }
  if (!c.scale_attn_weights)
    throw new UnsupportedConfigError('scale_attn_weights', 'false (unscaled attention)');
  if (c.scale_attn_by_inverse_layer_idx) {
    throw new UnsupportedConfigError('scale_attn_by_inverse_layer_idx', 'true (per-layer attention scale)');
  }
  if (c.add_cross_attention)
    throw new UnsupportedConfigError('add_cross_attention', 'true (an encoder-decoder)');
  return ourConfig({
    dModel: c.n_embd,
    nLayers: c.n_layer,
    nHeads: c.n_head,
    nFeatures: opts.nFeatures ?? DEFAULT_FEATURES,
    vocabSize: c.vocab_size,
    ...(c.n_inner == null ? { mlpRatio: 4 } : { ffnSize: c.n_inner }),
    norm: 'layernorm',
    normEps: c.layer_norm_epsilon,
    mlp,
    positions: 'learned',
    maxPositions: c.n_positions ?? c.n_ctx ?? 1024,
    bias: { qkv: true, attnOut: true, mlp: true },
    tiedHead: c.tie_word_embeddings,
    seed: opts.seed,
  });
}

/** Parses a config.json object (already JSON-decoded) into the family and our ModelConfig. */
export function modelFromHfConfig(json: unknown, opts: ImportOptions): HfModel {
  const { architectures } = parse(Architectures, json);
  const known = architectures.filter((a) => ARCHITECTURES[a] !== undefined);
  if (known.length !== 1 || architectures.length !== 1) throw new UnknownArchitectureError(architectures);
  const architecture = known[0]!;
  const family = ARCHITECTURES[architecture]!;
  for (const key of REFUSED_WHEN_SET) {
    const value = (json as Record<string, unknown>)[key];
    if (value != null) throw new UnsupportedConfigError(key, JSON.stringify(value));
  }
  const config = family === 'gpt2' ? gpt2Config(json, opts) : llamaConfig(json, family, opts);
  return { family, architecture, config };
}
