/**
 * Model configuration. The architecture schema is the protocol's `ModelConfig` (it travels in the job
 * manifest and in checkpoints); this module adds the derived sizes every implementation uses.
 *
 * Legend: L tokens, C chunk, D model, H heads, G = H/K query heads per key/value head, K key/value heads,
 * E = D/H head size, M random features, V vocab, F MLP hidden size (mlpRatio·D or ffnSize), N layers,
 * P learned positions.
 */
import { ModelConfig } from '@slimswarm/protocol';

export { ModelConfig };

export interface Dims {
  /** D */ d: number;
  /** H */ h: number;
  /** K key/value heads (= H without grouped-query attention) */ kv: number;
  /** E = D / H */ e: number;
  /** M */ m: number;
  /** V */ v: number;
  /** F = mlpRatio · D, or ffnSize */ f: number;
  /** N */ n: number;
  /** The norm's epsilon (not a dimension, but every layer body needs it beside them). */
  normEps: number;
}

export function dimsOf(config: ModelConfig): Dims {
  return {
    d: config.dModel,
    h: config.nHeads,
    kv: config.nKvHeads ?? config.nHeads,
    e: config.dModel / config.nHeads,
    m: config.nFeatures,
    v: config.vocabSize,
    f: config.ffnSize ?? config.mlpRatio! * config.dModel,
    n: config.nLayers,
    normEps: config.normEps,
  };
}

/**
 * Added to the attention denominator φ(q)ᵀz only to rule out 0/0 when every feature underflows. Tiny
 * because the key stabiliser (features.ts) makes φ(k) small by design; fp32 keeps its relative precision
 * down to 1e-38, so magnitude alone costs nothing.
 */
export const ATTN_EPS = 1e-20;
