// Legend: L tokens, V vocab.
/**
 * The softmax-attention reference: the same model and parameters as the FAVOR+ reference (same norms,
 * MLP, positions, grouped-query attention, biases and head, the same trunk.ts code) with exact causal
 * softmax attention in every block instead of FAVOR+, in float64. It is the teacher whose next-token
 * distributions FAVOR+ approximates (the conversion-error benchmark compares the two) and what a
 * Hugging Face import is checked against. Forward only; no random features.
 */
import { dimsOf } from '../model/config.js';
import type { ModelConfig } from '../model/config.js';
import { checkParams, checkTokenIds, InvalidTokensError, SequenceTooShortError } from '../model/inputs.js';
import type { Params } from '../model/params.js';
import { crossEntropyForward } from './layers.js';
import { params64, trunkForward } from './trunk.js';
import type { Params64 } from './trunk.js';

/** Next-token logits (L, V) at every position of `inputs` (L ≥ 1 ids) under softmax attention. */
export function softmaxAttentionLogits(
  config: ModelConfig,
  params: Params | Params64,
  inputs: Int32Array,
): Float64Array {
  checkTokenIds(config, inputs);
  if (inputs.length === 0) throw new InvalidTokensError('need at least one token id');
  checkParams(config, params);
  return trunkForward(dimsOf(config), config, params64(config, params), inputs, { kind: 'softmax' }).logits;
}

/** Mean next-token cross-entropy of `tokens` (L + 1 ids: inputs tokens[0, L), targets tokens[1, L]). */
export function softmaxAttentionLoss(
  config: ModelConfig,
  params: Params | Params64,
  tokens: Int32Array,
): number {
  checkTokenIds(config, tokens);
  if (tokens.length < 2) throw new SequenceTooShortError(tokens.length);
  const L = tokens.length - 1;
  const logits = softmaxAttentionLogits(config, params, tokens.subarray(0, L)); // (L, V)
  const probs = new Float64Array(logits.length); // (L, V)
  return crossEntropyForward(probs, logits, tokens.subarray(1), L, config.vocabSize);
}
