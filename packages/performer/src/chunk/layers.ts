// Legend: C rows (tokens in one run), D model, H heads, K key/value heads, G = H/K query heads per
// key/value head, E head size, M random features, V vocab, F MLP hidden size, P learned positions,
// N layers.
/**
 * The model's layers as ONNX graph pieces: the single definition behind every graph that runs the model,
 * the training chunk graphs (graphs.ts) and the decoder's step graph (decode/graph.ts), for every model
 * family the config describes (norm, MLP kind, positions, grouped-query attention, biases, head). What
 * differs between the graphs is passed in, not copied:
 *   ModelSource  where weights and ω come from (sliced from a flat input, or embedded initializers);
 *   Rows         how many tokens a run holds, their absolute positions (RoPE cos/sin, an input computed
 *                outside in fp64 or computed in the graph in double from a position; or the int32
 *                positions that index pos_emb), and the padding mask of the keys.
 * The function is the contract in docs/performer.md.
 */
import type { ModelConfig } from '../model/config.js';
import { ATTN_EPS, dimsOf } from '../model/config.js';
import type { GraphBuilder, Value } from '../onnx/graph.js';

export interface LayerFeatureValues {
  omegaT: Value; // [E, M] ω transposed
  keyStabiliser: Value; // [1, 1] s_layer
}

export interface ModelSource {
  /** A parameter by its Params name, in its paramShapes shape: the one place weights are looked up. */
  param(name: string): Value;
  /** LoRA's factors of matrix `name` and their scale α/r; undefined where it is not adapted. */
  adapter?(name: string): LowRank | undefined;
  /** ω and the key stabiliser of one layer (called once per layer). */
  features(layer: number): LayerFeatureValues;
}

/** A low-rank update s·A·B of a [in, out] matrix: A [in, r], B [r, out], s a scalar. */
export interface LowRank {
  a: Value;
  b: Value;
  scale: Value;
}

/** Where the run's tokens sit in the sequence, in the form the config's positions need. */
export type Positions =
  | {
      kind: 'rope';
      cos: Value; // [C, 1, E] cos(t·θ_p) at each token's absolute position, repeated for the pair (2p, 2p+1)
      sin: Value; // [C, 1, E]
    }
  | { kind: 'learned'; index: Value }; // [C] int32 absolute positions, rows of pos_emb

export interface Rows {
  /** C, the tokens of one run. */
  count: number;
  positions: Positions;
  /** [C, 1, 1] 1 for real tokens, 0 for padding (keeps padded keys out of the states); none: no padding. */
  keyMask?: Value;
}

/** A layer's first half: what its keys and values add to the state (all a states graph needs). */
export interface KeysValues {
  a: Value; // [C, D] norm(h; ln1)
  phiK: Value; // [K, C, M] key features (padding masked to 0)
  v: Value; // [K, C, E + 1] values with a column of ones appended (its state row is z)
  contribution: Value; // [K, M, E + 1] Δ = Σ_C φ(k)[v, 1]ᵀ
  features: LayerFeatureValues;
}

/** Constants shared by every layer of one graph, each made on first use per builder and row count. */
interface Shared {
  causalMask: Value; // [C, C] 1 where τ ≤ t
  rotation: Value; // [E, E] pair rotation
  valueOnes: Value; // [C, K, 1]
}
const makers: { [K in keyof Shared]: (b: GraphBuilder, config: ModelConfig, c: number) => Shared[K] } = {
  causalMask: (b, _config, c) => {
    const columns = b.constant(
      Float32Array.from({ length: c }, (_, i) => i),
      [1, c],
    );
    const rowsPlusHalf = b.constant(
      Float32Array.from({ length: c }, (_, i) => i + 0.5),
      [c, 1],
    );
    return b.cast(b.less(columns, rowsPlusHalf), 'float');
  },
  rotation: (b, config) => {
    const { e } = dimsOf(config);
    return b.constant(pairRotation(e), [e, e]);
  },
  valueOnes: (b, config, c) => {
    const { kv } = dimsOf(config);
    return b.constant(new Float32Array(c * kv).fill(1), [c, kv, 1]);
  },
};
const sharedConstants = new WeakMap<GraphBuilder, Map<string, Value>>();

function shared<K extends keyof Shared>(b: GraphBuilder, config: ModelConfig, c: number, key: K): Shared[K] {
  let made = sharedConstants.get(b);
  if (!made) sharedConstants.set(b, (made = new Map()));
  const id = `${key}/${c}`;
  let value = made.get(id);
  if (!value) made.set(id, (value = makers[key](b, config, c)));
  return value;
}

/** (x_{2p}, x_{2p+1}) → (−x_{2p+1}, x_{2p}) as a matrix, so RoPE is x·cos + (x @ R)·sin. */
function pairRotation(e: number): Float32Array {
  const r = new Float32Array(e * e);
  for (let p = 0; p < e / 2; p++) {
    r[(2 * p + 1) * e + 2 * p] = -1;
    r[2 * p * e + 2 * p + 1] = 1;
  }
  return r;
}

/** LayerNorm (centred, biased variance, weight and bias) or RMSNorm (weight only) over the last axis. */
export function norm(
  b: GraphBuilder,
  config: ModelConfig,
  source: ModelSource,
  prefix: string,
  x: Value,
): Value {
  const eps = b.scalar(config.normEps);
  const weight = source.param(`${prefix}.weight`);
  if (config.norm === 'rmsnorm') {
    const meanSquare = b.reduceMean(b.mul(x, x), [-1]);
    return b.mul(b.div(x, b.sqrt(b.add(meanSquare, eps))), weight);
  }
  const centred = b.sub(x, b.reduceMean(x, [-1]));
  const variance = b.reduceMean(b.mul(centred, centred), [-1]);
  const normalised = b.div(centred, b.sqrt(b.add(variance, eps)));
  return b.add(b.mul(normalised, weight), source.param(`${prefix}.bias`));
}

/** RoPE cos/sin from a [2, C, E] input (row 0 cos, row 1 sin), computed outside in fp64. */
export function ropeRows(b: GraphBuilder, config: ModelConfig, c: number, rope: Value): Positions {
  const { e } = dimsOf(config);
  return {
    kind: 'rope',
    cos: b.reshape(b.slice(rope, 0, 0, 1), [c, 1, e]),
    sin: b.reshape(b.slice(rope, 0, 1, 2), [c, 1, e]),
  };
}

/**
 * The positions of C tokens at position + 0..C−1 (`position` an int32 [1] input). RoPE's cos/sin are
 * computed in the graph in double (like the fp64 values the chunk graphs are given: a float32 angle t·θ
 * would be ~t·2⁻²⁴ rad off), then rounded; learned positions are the int32 row indices of pos_emb.
 */
export function positionsFrom(b: GraphBuilder, config: ModelConfig, c: number, position: Value): Positions {
  const offsets = Float64Array.from({ length: c }, (_, i) => i); // [C]
  const t = b.add(b.cast(b.reshape(position, [1, 1]), 'double'), b.constantFloat64(offsets, [c, 1])); // [C, 1]
  if (config.positions === 'learned') return { kind: 'learned', index: b.cast(b.reshape(t, [c]), 'int32') };
  const { e } = dimsOf(config);
  const theta = Float64Array.from({ length: e }, (_, i) => config.ropeBase ** ((-2 * Math.floor(i / 2)) / e)); // [E]
  const angle = b.reshape(b.mul(t, b.constantFloat64(theta, [1, e])), [c, 1, e]);
  return { kind: 'rope', cos: b.cast(b.cos(angle), 'float'), sin: b.cast(b.sin(angle), 'float') };
}

/**
 * The embedding of the run's [C, 1] int32 ids: tok_emb rows (plus pos_emb rows at the tokens' absolute
 * positions, for learned positions) → [C, D]. Gather, whose gradient scatter-adds C rows (C·D work, no
 * [C, V] one-hot; nothing at all when the embedding is frozen).
 */
export function embed(
  b: GraphBuilder,
  config: ModelConfig,
  source: ModelSource,
  rows: Rows,
  ids: Value,
): Value {
  const c = rows.count;
  if (ids.shape[0] !== c) throw new Error(`embed: ${ids.shape[0]} ids for ${c} rows`);
  const tokens = b.gather(source.param('tok_emb'), b.reshape(ids, [c]));
  const { positions } = rows;
  return positions.kind === 'learned'
    ? b.add(tokens, b.gather(source.param('pos_emb'), positions.index))
    : tokens;
}

/**
 * x @ weight, plus bias when one is named (the config says which projections carry one). An adapted
 * matrix computes x·W + s·(x·A)·B, not x·(W + s·A·B): the merged [in, out] matrix would be one more copy
 * of W per adapted matrix, alive across the backward, and its gradient a full [in, out] matmul per run.
 */
export function linear(
  b: GraphBuilder,
  source: ModelSource,
  x: Value,
  weight: string,
  bias: string | false,
): Value {
  let out = b.matmul(x, source.param(weight));
  const adapter = source.adapter?.(weight);
  if (adapter) out = b.add(out, b.mul(b.matmul(b.matmul(x, adapter.a), adapter.b), adapter.scale));
  return bias ? b.add(out, source.param(bias)) : out;
}

/**
 * Query or key projection of [C, D] → [C, heads, E]: (x @ W + b)·E^(−1/4), rotated (RoPE) at the rows'
 * positions; learned positions were added to the embedding instead.
 */
export function projectQK(
  b: GraphBuilder,
  config: ModelConfig,
  source: ModelSource,
  rows: Rows,
  x: Value,
  weight: string,
  bias: string | false,
  heads: number,
): Value {
  const { e } = dimsOf(config);
  const c = rows.count;
  const scaled = b.reshape(b.mul(linear(b, source, x, weight, bias), b.scalar(e ** -0.25)), [c, heads, e]);
  const { positions } = rows;
  if (positions.kind === 'learned') return scaled;
  const rotation = shared(b, config, c, 'rotation');
  const swapped = b.reshape(b.matmul(b.reshape(scaled, [c * heads, e]), rotation), [c, heads, e]);
  return b.add(b.mul(scaled, positions.cos), b.mul(swapped, positions.sin));
}

/** ω·x − |x|²/2 for every row of x [C, heads, E]: [C·heads, M]. */
function featureLogits(b: GraphBuilder, config: ModelConfig, x: Value, omegaT: Value): Value {
  const { e } = dimsOf(config);
  const rows = b.reshape(x, [x.shape[0]! * x.shape[1]!, e]);
  const halfSquare = b.mul(b.reduceSum(b.mul(rows, rows), [1]), b.scalar(0.5));
  return b.sub(b.matmul(rows, omegaT), halfSquare);
}

/** The norm, keys and values of layer i, and their contribution Δ to the layer's K states. */
export function layerKeysValues(
  b: GraphBuilder,
  config: ModelConfig,
  source: ModelSource,
  rows: Rows,
  i: number,
  hidden: Value, // [C, D]
): KeysValues {
  const { kv: kvHeads, e, m } = dimsOf(config);
  const c = rows.count;
  const name = (suffix: string): string => `blocks.${i}.${suffix}`;
  const qkvBias = (suffix: string): string | false => config.bias.qkv && name(suffix);
  const features = source.features(i);

  const a = norm(b, config, source, name('ln1'), hidden);
  const k = projectQK(b, config, source, rows, a, name('attn.wk'), qkvBias('attn.bk'), kvHeads); // [C, K, E]
  const values = b.concat(
    [
      b.reshape(linear(b, source, a, name('attn.wv'), qkvBias('attn.bv')), [c, kvHeads, e]),
      shared(b, config, c, 'valueOnes'),
    ],
    2,
  ); // [C, K, E + 1]
  const phiKRows = b.mul(
    b.exp(b.sub(featureLogits(b, config, k, features.omegaT), features.keyStabiliser)),
    b.scalar(1 / Math.sqrt(m)),
  ); // [C·K, M]
  const phiKByHead = b.reshape(phiKRows, [c, kvHeads, m]);
  const masked = rows.keyMask ? b.mul(phiKByHead, rows.keyMask) : phiKByHead;
  const phiK = b.transpose(masked, [1, 0, 2]); // [K, C, M]
  const v = b.transpose(values, [1, 0, 2]); // [K, C, E + 1]
  const contribution = b.matmul(b.transposeLast(phiK), v); // [K, M, E + 1]
  return { a, phiK, v, contribution, features };
}

/** The MLP's residual branch of [C, D] → [C, D]: GELU (exact or tanh) or SwiGLU, biased when bias.mlp. */
export function mlp(b: GraphBuilder, config: ModelConfig, source: ModelSource, i: number, x: Value): Value {
  const name = (suffix: string): string => `blocks.${i}.mlp.${suffix}`;
  const bias = (suffix: string): string | false => config.bias.mlp && name(suffix);
  const u = linear(b, source, x, name('w1'), bias('b1')); // [C, F]
  let hidden: Value; // [C, F]
  if (config.mlp === 'swiglu') {
    const gate = linear(b, source, x, name('wg'), bias('bg')); // [C, F]
    hidden = b.mul(b.mul(gate, b.sigmoid(gate)), u);
  } else if (config.mlp === 'gelu-tanh') {
    // GPT-2's gelu_new: ½u(1 + tanh(√(2/π)(u + 0.044715u³)))
    const inner = b.mul(
      b.add(u, b.mul(b.mul(b.mul(u, u), u), b.scalar(0.044715))),
      b.scalar(Math.sqrt(2 / Math.PI)),
    );
    hidden = b.mul(b.mul(u, b.add(b.tanh(inner), b.scalar(1))), b.scalar(0.5));
  } else {
    const erfTerm = b.add(b.erf(b.mul(u, b.scalar(Math.SQRT1_2))), b.scalar(1));
    hidden = b.mul(b.mul(u, erfTerm), b.scalar(0.5));
  }
  return linear(b, source, hidden, name('w2'), bias('b2'));
}

/**
 * The rest of layer i: queries, causal linear attention from the K states that entered the run
 * (O = (Φq Φkᵀ ⊙ causal) V + Φq S_in, numerator and denominator in one matmul), the residual, the MLP.
 * Grouped-query attention: query head h reads key/value head ⌊h/G⌋ (Hugging Face's repeat_kv order), so
 * the G query heads of a group are stacked as G·C rows against their one state, never copying it.
 */
export function layerMix(
  b: GraphBuilder,
  config: ModelConfig,
  source: ModelSource,
  rows: Rows,
  i: number,
  hidden: Value, // [C, D]
  kv: KeysValues,
  stateIn: Value, // [K, M, E + 1]
): Value {
  const { d, h: heads, kv: kvHeads, e, m } = dimsOf(config);
  const g = heads / kvHeads;
  const c = rows.count;
  const name = (suffix: string): string => `blocks.${i}.${suffix}`;

  const qkvBias = config.bias.qkv && name('attn.bq');
  const q = projectQK(b, config, source, rows, kv.a, name('attn.wq'), qkvBias, heads); // [C, H, E]
  const queryLogits = featureLogits(b, config, q, kv.features.omegaT); // [C·H, M]
  const queryStabiliser = b.stopGradient(b.reduceMax(queryLogits, [1]));
  const phiQRows = b.mul(b.exp(b.sub(queryLogits, queryStabiliser)), b.scalar(1 / Math.sqrt(m)));
  const phiQ = b.reshape(b.transpose(b.reshape(phiQRows, [c, kvHeads, g, m]), [1, 2, 0, 3]), [
    kvHeads,
    g * c,
    m,
  ]); // [K, G·C, M]

  const rawScores = b.reshape(b.matmul(phiQ, b.transposeLast(kv.phiK)), [kvHeads, g, c, c]); // [K, G, C, C]
  const scores = b.reshape(b.mul(rawScores, shared(b, config, c, 'causalMask')), [kvHeads, g * c, c]);
  const numDen = b.add(b.matmul(scores, kv.v), b.matmul(phiQ, stateIn)); // [K, G·C, E + 1]
  const numerator = b.slice(numDen, 2, 0, e);
  const denominator = b.add(b.slice(numDen, 2, e, e + 1), b.scalar(ATTN_EPS));
  const byGroup = b.reshape(b.div(numerator, denominator), [kvHeads, g, c, e]); // [K, G, C, E]
  const attention = b.reshape(b.transpose(byGroup, [2, 0, 1, 3]), [c, d]); // heads h = kv·G + g
  let out = b.add(
    hidden,
    linear(b, source, attention, name('attn.wo'), config.bias.attnOut && name('attn.bo')),
  );
  out = b.add(out, mlp(b, config, source, i, norm(b, config, source, name('ln2'), out)));
  return out;
}

/** The final norm and the head (tok_embᵀ when tied, lm_head otherwise): [C, D] → logits [C, V]. */
export function lmHead(b: GraphBuilder, config: ModelConfig, source: ModelSource, hidden: Value): Value {
  const final = norm(b, config, source, 'ln_f', hidden);
  return config.tiedHead
    ? b.matmulTransposed(final, source.param('tok_emb'))
    : b.matmul(final, source.param('lm_head'));
}
