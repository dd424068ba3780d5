// Legend: N layers, H query heads, K key/value heads, E head size, M random features, V vocab.
/**
 * The recurrent decoder of the naive reference, in float64: per layer and key/value head it carries the
 * prefix-sum state S (M, E) and z (M) and feeds one token at a time at its absolute position, so memory and work per
 * token do not grow with the context (the inference twin of SLiM). Each step is the full-sequence forward
 * (model.ts `naiveForwardLogits`) on one token with the carried states, so the two cannot drift apart.
 */
import type { LayerFeatures } from '../model/features.js';
import type { ModelConfig } from '../model/config.js';
import { TokenOutOfRangeError } from '../model/inputs.js';
import type { Params } from '../model/params.js';
import { emptyAttentionState } from './attention.js';
import { softmaxForward } from './layers.js';
import type { Carry, NaiveModel, Params64 } from './model.js';
import { naiveForwardLogits, naiveModel } from './model.js';

export class NaiveDecoder {
  private readonly model: NaiveModel;
  private carry: Carry; // position, and per layer S (K, M, E), z (K, M)

  constructor(config: ModelConfig, params: Params | Params64, features: readonly LayerFeatures[]) {
    this.model = naiveModel(config, params, features);
    this.carry = this.fresh();
  }

  /** Tokens fed since the last reset: the absolute position the next token will take. */
  get position(): number {
    return this.carry.position;
  }

  /** Bytes of carried state: N·K·M·(E + 1) float64, whatever the position. */
  get stateBytes(): number {
    return this.carry.states.reduce((sum, s) => sum + s.s.byteLength + s.z.byteLength, 0);
  }

  /** Forgets the sequence: zero states at position 0. */
  reset(): void {
    this.carry = this.fresh();
  }

  /**
   * Feeds one token; returns the logits (V) of the token after it. A learned-positions model refuses a
   * token past its last position (PositionOutOfRangeError) and keeps its state.
   */
  step(token: number): Float64Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.model.config.vocabSize) {
      throw new TokenOutOfRangeError(this.carry.position, token, this.model.config.vocabSize);
    }
    return naiveForwardLogits(this.model, Int32Array.of(token), this.carry);
  }

  /** Feeds one token; returns the next-token probabilities (V). */
  stepProbs(token: number): Float64Array {
    const logits = this.step(token); // (V)
    const probs = new Float64Array(logits.length); // (V)
    softmaxForward(probs, logits, 1, logits.length);
    return probs;
  }

  private fresh(): Carry {
    const { n, kv, e, m } = this.model.dims;
    return { position: 0, states: Array.from({ length: n }, () => emptyAttentionState(kv, e, m)) };
  }
}
