/**
 * What one published delta says about the text it was trained on: the distinct tokens of the peer's
 * round, read off the token-embedding rows of its delta. The input embedding only moves the rows of the
 * tokens that occur, so their rows stand out; a tied LM head moves every row a little (the softmax
 * touches the whole vocabulary), which is the noise the attacker must see through. top-k compression
 * keeps the largest coordinates, which are exactly the rows that stand out.
 *
 * Which way the present rows stand out depends on the optimiser and the codec: under AdamW every row the
 * tied head touches moves by about the learning rate whatever its gradient, and the present rows, pulled
 * by both the input and the output side, can move less than the rest (measured: on the tiny model they
 * do); top-k then drops rows by size. So the attacker does what anyone with our code can: it runs a
 * shadow round of its own, on text it knows, from the same model with the same codec, and learns from
 * it which side of which log-norm threshold the present rows fall (the threshold with the best F1 on the
 * shadow round). Then it reads the victim's delta with that rule. No oracle count of the victim's tokens.
 */
export interface TokenRecovery {
  /** Distinct tokens the peer actually trained on. */
  present: number;
  /** Tokens the attacker names. */
  predicted: number;
  recall: number;
  precision: number;
  /** Area under the ROC curve of the attacker's row score (0.5: the delta says nothing, 1: everything). */
  auc: number;
}

/** L2 norm of each of the V rows of a [V, D] block. */
export function rowNorms(embedding: Float32Array, vocab: number): Float64Array {
  const d = embedding.length / vocab;
  const norms = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += embedding[t * d + j]! ** 2;
    norms[t] = Math.sqrt(sq);
  }
  return norms;
}

/** Mann–Whitney AUC of `scores` for the positives in `present` (ties count half). */
export function rocAuc(scores: Float64Array, present: ReadonlySet<number>): number {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const rank = (i + j) / 2 + 1; // average rank of the tie group
    for (let k = i; k <= j; k++) if (present.has(order[k]!)) rankSum += rank;
    i = j + 1;
  }
  const pos = present.size;
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** What the attacker learned from its shadow round. */
export interface RecoveryRule {
  /** +1: present rows are the larger ones; −1: the smaller ones. */
  sign: 1 | -1;
  /** Rows whose sign · log norm is above this are named. */
  threshold: number;
}

/** sign · log norm per row; rows the codec dropped (norm 0) get the floor log(1e-30). */
function orientedScores(embeddingDelta: Float32Array, vocab: number, sign: 1 | -1): Float64Array {
  return rowNorms(embeddingDelta, vocab).map((x) => sign * Math.log(x + 1e-30));
}

function named(
  scores: Float64Array,
  threshold: number,
  present: ReadonlySet<number>,
): { predicted: number; hits: number } {
  let predicted = 0;
  let hits = 0;
  scores.forEach((x, t) => {
    if (x > threshold) {
      predicted++;
      if (present.has(t)) hits++;
    }
  });
  return { predicted, hits };
}

/** The rule with the best F1 on a shadow round whose tokens the attacker knows. */
export function calibrateRecovery(
  shadowDelta: Float32Array,
  vocab: number,
  shadowPresent: ReadonlySet<number>,
): RecoveryRule {
  let best = { f1: -1, rule: { sign: 1, threshold: Infinity } as RecoveryRule };
  for (const sign of [1, -1] as const) {
    const scores = orientedScores(shadowDelta, vocab, sign);
    const sorted = Float64Array.from(new Set(scores)).sort();
    for (let i = 0; i + 1 < sorted.length; i++) {
      const threshold = (sorted[i]! + sorted[i + 1]!) / 2;
      const { predicted, hits } = named(scores, threshold, shadowPresent);
      const f1 = predicted + shadowPresent.size > 0 ? (2 * hits) / (predicted + shadowPresent.size) : 0;
      if (f1 > best.f1) best = { f1, rule: { sign, threshold } };
    }
  }
  return best.rule;
}

/** Recovers the token set from a delta's [V, D] embedding block with `rule`, scored against the truth. */
export function recoverTokens(
  embeddingDelta: Float32Array,
  vocab: number,
  present: ReadonlySet<number>,
  rule: RecoveryRule,
): TokenRecovery {
  const scores = orientedScores(embeddingDelta, vocab, rule.sign);
  const { predicted, hits } = named(scores, rule.threshold, present);
  return {
    present: present.size,
    predicted,
    recall: present.size ? hits / present.size : Number.NaN,
    precision: predicted ? hits / predicted : Number.NaN,
    auc: rocAuc(scores, present),
  };
}
