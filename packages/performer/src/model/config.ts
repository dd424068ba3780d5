/**
 * Model configuration. The architecture schema is the protocol's `ModelConfig` (it travels in the job
 * manifest and in checkpoints); this module adds the derived sizes every implementation uses.
 *
 * Legend: L tokens, C chunk, D model, H heads, E = D/H head size, M random features, V vocab,
 * F = mlpRatio·D MLP hidden size, N layers.
 */
import { ModelConfig } from '@slimswarm/protocol';

export { ModelConfig };

export interface Dims {
  /** D */ d: number;
  /** H */ h: number;
  /** E = D / H */ e: number;
  /** M */ m: number;
  /** V */ v: number;
  /** F = mlpRatio · D */ f: number;
  /** N */ n: number;
}

export function dimsOf(config: ModelConfig): Dims {
  return {
    d: config.dModel,
    h: config.nHeads,
    e: config.dModel / config.nHeads,
    m: config.nFeatures,
    v: config.vocabSize,
    f: config.mlpRatio * config.dModel,
    n: config.nLayers,
  };
}

/** LayerNorm epsilon (biased variance), everywhere. */
export const LN_EPS = 1e-5;

/**
 * Added to the attention denominator φ(q)ᵀz only to rule out 0/0 when every feature underflows. Tiny
 * because the key stabiliser (features.ts) makes φ(k) small by design; fp32 keeps its relative precision
 * down to 1e-38, so magnitude alone costs nothing.
 */
export const ATTN_EPS = 1e-20;
