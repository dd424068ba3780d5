/**
 * One small config per model family (and a mixed one), the set every numerical check runs on: gradients
 * against the fp64 reference, split-and-resume, chunk-size invariance, finite differences, decoding,
 * export. Shapes divide nothing evenly (M is odd and not E, F is not a multiple of D, V is prime).
 */
import { ModelConfig } from '@slimswarm/protocol';

export const FAMILY_CONFIGS = {
  /** Our own: LayerNorm, exact GELU with biases, RoPE, tied head. */
  performer: ModelConfig.parse({
    dModel: 12,
    nLayers: 2,
    nHeads: 3,
    nFeatures: 5,
    vocabSize: 11,
    mlpRatio: 2,
    ropeBase: 7,
    seed: 3,
  }),
  /** Llama: RMSNorm, SwiGLU, RoPE with its own θ, grouped-query attention, untied head, no biases. */
  llama: ModelConfig.parse({
    dModel: 16,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    nFeatures: 7,
    vocabSize: 13,
    ffnSize: 21,
    norm: 'rmsnorm',
    normEps: 1e-6,
    mlp: 'swiglu',
    ropeBase: 500,
    bias: { qkv: false, attnOut: false, mlp: false },
    tiedHead: false,
    seed: 5,
  }),
  /** Qwen2: Llama with q/k/v biases and a tied head, one key/value head for all queries. */
  qwen2: ModelConfig.parse({
    dModel: 12,
    nLayers: 2,
    nHeads: 3,
    nKvHeads: 1,
    nFeatures: 5,
    vocabSize: 17,
    ffnSize: 19,
    norm: 'rmsnorm',
    mlp: 'swiglu',
    ropeBase: 1000,
    bias: { qkv: true, attnOut: false, mlp: false },
    seed: 7,
  }),
  /** GPT-2: LayerNorm, tanh GELU, learned positions, every projection biased, tied head. */
  gpt2: ModelConfig.parse({
    dModel: 15,
    nLayers: 2,
    nHeads: 3,
    nFeatures: 6,
    vocabSize: 19,
    mlpRatio: 2,
    mlp: 'gelu-tanh',
    positions: 'learned',
    maxPositions: 64,
    bias: { qkv: true, attnOut: true, mlp: true },
    seed: 9,
  }),
  /** A combination no checkpoint uses: LayerNorm with SwiGLU and MLP biases, GQA, learned positions, untied. */
  mixed: ModelConfig.parse({
    dModel: 16,
    nLayers: 1,
    nHeads: 4,
    nKvHeads: 2,
    nFeatures: 9,
    vocabSize: 23,
    ffnSize: 13,
    mlp: 'swiglu',
    positions: 'learned',
    maxPositions: 64,
    bias: { qkv: true, attnOut: true, mlp: true },
    tiedHead: false,
    seed: 13,
  }),
} satisfies Record<string, ModelConfig>;

export type FamilyName = keyof typeof FAMILY_CONFIGS;
export const FAMILY_NAMES = Object.keys(FAMILY_CONFIGS) as FamilyName[];
