// Legend: L tokens, V vocab.
/**
 * The softmax → FAVOR+ conversion error: the same parameters run with exact softmax attention (the
 * teacher, naive/softmax.ts) and with FAVOR+ at the config's M and ω (naive/model.ts), both in float64,
 * compared by KL(softmax ‖ FAVOR+) of the next-token distribution at every position of a text. FAVOR+'s
 * estimate of each attention weight has variance ∝ 1/M, so the KL should fall roughly as 1/M.
 */
import type { ModelConfig } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import { InvalidTokensError } from '../model/inputs.js';
import type { Params } from '../model/params.js';
import { softmaxForward } from '../naive/layers.js';
import { naiveLogits } from '../naive/model.js';
import { softmaxAttentionLogits } from '../naive/softmax.js';

export interface ConversionError {
  /** Mean over positions of KL(softmax ‖ FAVOR+), nats. */
  kl: number;
  /** The largest KL at any one position. */
  klMax: number;
  /** Mean next-token cross-entropy of the text under each model, nats. */
  ceSoftmax: number;
  ceFavor: number;
  /** Predictions compared. */
  tokens: number;
}

/** Row-wise log-softmax of (L, V) logits, in place: logits − log Σ exp(logits). */
function logSoftmaxRows(logits: Float64Array, vocab: number): Float64Array {
  const rows = logits.length / vocab;
  const logSumExp = new Float64Array(rows); // (L)
  softmaxForward(new Float64Array(logits.length), logits, rows, vocab, logSumExp);
  for (let c = 0; c < logits.length; c++) logits[c]! -= logSumExp[Math.floor(c / vocab)]!;
  return logits;
}

/** Softmax-attention log-probabilities (L, V) of each text's inputs (texts are L + 1 ids). */
export function softmaxLogProbs(
  config: ModelConfig,
  params: Params,
  texts: readonly Int32Array[],
): Float64Array[] {
  return texts.map((t) =>
    logSoftmaxRows(softmaxAttentionLogits(config, params, t.subarray(0, t.length - 1)), config.vocabSize),
  );
}

/**
 * KL(softmax ‖ FAVOR+) and both cross-entropies over `texts` (each L + 1 ids: inputs and next-token
 * targets). `teacher` is softmaxLogProbs of the same texts, computed once when many ω are compared.
 */
export function conversionError(
  config: ModelConfig,
  params: Params,
  texts: readonly Int32Array[],
  features: readonly LayerFeatures[],
  teacher: readonly Float64Array[] = softmaxLogProbs(config, params, texts),
): ConversionError {
  if (texts.length === 0) throw new InvalidTokensError('the conversion error needs at least one text');
  const v = config.vocabSize;
  let kl = 0;
  let klMax = 0;
  let ceSoftmax = 0;
  let ceFavor = 0;
  let tokens = 0;
  texts.forEach((text, i) => {
    const L = text.length - 1;
    const p = teacher[i]!; // (L, V) log-probabilities
    const q = logSoftmaxRows(naiveLogits(config, params, text.subarray(0, L), features), v); // (L, V)
    for (let t = 0; t < L; t++) {
      let position = 0;
      for (let c = t * v; c < (t + 1) * v; c++) position += Math.exp(p[c]!) * (p[c]! - q[c]!);
      kl += position;
      klMax = Math.max(klMax, position);
      ceSoftmax -= p[t * v + text[t + 1]!]!;
      ceFavor -= q[t * v + text[t + 1]!]!;
    }
    tokens += L;
  });
  return { kl: kl / tokens, klMax, ceSoftmax: ceSoftmax / tokens, ceFavor: ceFavor / tokens, tokens };
}
