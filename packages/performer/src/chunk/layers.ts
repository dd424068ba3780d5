// Legend: C rows (tokens in one run), D model, H heads, E head size, M random features, V vocab, N layers.
/**
 * The model's layers as ONNX graph pieces: the single definition behind every graph that runs the model,
 * the training chunk graphs (graphs.ts) and the decoder's step graph (decode/graph.ts). What differs
 * between them is passed in, not copied:
 *   ModelSource  where weights and ω come from (sliced from a flat input, or embedded initializers);
 *   Rows         how many tokens a run holds, their RoPE cos/sin (an input computed outside in fp64, or
 *                computed in the graph in double from a position), and the padding mask of the keys.
 * The function is the contract in docs/performer.md.
 */
import type { Dims } from '../model/config.js';
import { ATTN_EPS } from '../model/config.js';
import type { GraphBuilder, Value } from '../onnx/graph.js';

export interface LayerFeatureValues {
  omegaT: Value; // [E, M] ω transposed
  keyStabiliser: Value; // [1, 1] s_layer
}

export interface ModelSource {
  /** A parameter by its Params name, in its paramShapes shape. */
  param(name: string): Value;
  /** ω and the key stabiliser of one layer (called once per layer). */
  features(layer: number): LayerFeatureValues;
  /** True for a parameter no gradient is taken for (LoRA's base): lookups may then skip the one-hot. */
  frozen?(name: string): boolean;
}

export interface Rows {
  /** C, the tokens of one run. */
  count: number;
  cos: Value; // [C, 1, E] cos(t·θ_p) at each token's absolute position, repeated for the pair (2p, 2p+1)
  sin: Value; // [C, 1, E]
  /** [C, 1, 1] 1 for real tokens, 0 for padding (keeps padded keys out of the states); none: no padding. */
  keyMask?: Value;
}

/** A layer's first half: what its keys and values add to the state (all a states graph needs). */
export interface KeysValues {
  a: Value; // [C, D] LayerNorm(h; ln1)
  phiK: Value; // [H, C, M] key features (padding masked to 0)
  v: Value; // [H, C, E + 1] values with a column of ones appended (its state row is z)
  contribution: Value; // [H, M, E + 1] Δ = Σ_C φ(k)[v, 1]ᵀ
  features: LayerFeatureValues;
}

/** Constants shared by every layer of one graph, made once per builder and row count. */
interface Shared {
  causalMask: Value; // [C, C] 1 where τ ≤ t
  rotation: Value; // [E, E] pair rotation
  valueOnes: Value; // [C, H, 1]
  vocabIds: Value; // [1, V] int32
}
const sharedConstants = new WeakMap<GraphBuilder, Map<number, Shared>>();

function shared(b: GraphBuilder, dims: Dims, c: number): Shared {
  let byRows = sharedConstants.get(b);
  if (!byRows) sharedConstants.set(b, (byRows = new Map()));
  let made = byRows.get(c);
  if (!made) {
    const { e, h, v } = dims;
    const vocabIds = b.constantInt32(
      Int32Array.from({ length: v }, (_, i) => i),
      [1, v],
    );
    const columns = b.constant(
      Float32Array.from({ length: c }, (_, i) => i),
      [1, c],
    );
    const rowsPlusHalf = b.constant(
      Float32Array.from({ length: c }, (_, i) => i + 0.5),
      [c, 1],
    );
    made = {
      vocabIds,
      causalMask: b.cast(b.less(columns, rowsPlusHalf), 'float'),
      rotation: b.constant(pairRotation(e), [e, e]),
      valueOnes: b.constant(new Float32Array(c * h).fill(1), [c, h, 1]),
    };
    byRows.set(c, made);
  }
  return made;
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

export function layerNorm(b: GraphBuilder, dims: Dims, x: Value, weight: Value, bias: Value): Value {
  const centred = b.sub(x, b.reduceMean(x, [-1]));
  const variance = b.reduceMean(b.mul(centred, centred), [-1]);
  const normalised = b.div(centred, b.sqrt(b.add(variance, b.scalar(dims.normEps))));
  return b.add(b.mul(normalised, weight), bias);
}

/** RoPE cos/sin from a [2, C, E] input (row 0 cos, row 1 sin), computed outside in fp64. */
export function ropeRows(b: GraphBuilder, dims: Dims, c: number, rope: Value): { cos: Value; sin: Value } {
  const { e } = dims;
  return {
    cos: b.reshape(b.slice(rope, 0, 0, 1), [c, 1, e]),
    sin: b.reshape(b.slice(rope, 0, 1, 2), [c, 1, e]),
  };
}

/**
 * RoPE cos/sin for C tokens at positions position + 0..C−1, computed in the graph in double (like the
 * fp64 values the chunk graphs are given: a float32 angle t·θ would be ~t·2⁻²⁴ rad off), then rounded.
 * `position` is an int32 [1] input.
 */
export function ropeFromPosition(
  b: GraphBuilder,
  dims: Dims,
  ropeBase: number,
  c: number,
  position: Value,
): { cos: Value; sin: Value } {
  const { e } = dims;
  const theta = Float64Array.from({ length: e }, (_, i) => ropeBase ** ((-2 * Math.floor(i / 2)) / e)); // [E]
  const offsets = Float64Array.from({ length: c }, (_, i) => i); // [C]
  const t = b.add(b.cast(b.reshape(position, [1, 1]), 'double'), b.constantFloat64(offsets, [c, 1])); // [C, 1]
  const angle = b.reshape(b.mul(t, b.constantFloat64(theta, [1, e])), [c, 1, e]);
  return { cos: b.cast(b.cos(angle), 'float'), sin: b.cast(b.sin(angle), 'float') };
}

/** [C, 1] int32 ids → [C, V] one-hot rows (float). */
export function embedOneHot(b: GraphBuilder, dims: Dims, ids: Value): Value {
  const c = ids.shape[0]!;
  return b.cast(b.equal(ids, shared(b, dims, c).vocabIds), 'float');
}

/**
 * Token embedding of [C, 1] int32 ids: [C, D] (one-hot @ tok_emb, so the gradient is a matmul; a plain
 * row lookup when tok_emb is frozen, saving the [C, V] one-hot and its C·V·D matmul).
 */
export function embed(b: GraphBuilder, dims: Dims, source: ModelSource, c: number, ids: Value): Value {
  if (ids.shape[0] !== c) throw new Error(`embed: ${ids.shape[0]} ids for ${c} rows`);
  if (source.frozen?.('tok_emb')) return b.gatherRows(source.param('tok_emb'), b.reshape(ids, [c]));
  return b.matmul(embedOneHot(b, dims, ids), source.param('tok_emb'));
}

/** [C, D] → rotated [C, H, E]. */
function rotary(b: GraphBuilder, dims: Dims, rows: Rows, x: Value): Value {
  const { h, e } = dims;
  const c = rows.count;
  const byHead = b.reshape(x, [c, h, e]);
  const rotation = shared(b, dims, c).rotation;
  const swapped = b.reshape(b.matmul(b.reshape(x, [c * h, e]), rotation), [c, h, e]);
  return b.add(b.mul(byHead, rows.cos), b.mul(swapped, rows.sin));
}

/** ω·x − |x|²/2 for every row of x [C, H, E]: [C·H, M]. */
function featureLogits(b: GraphBuilder, dims: Dims, c: number, x: Value, omegaT: Value): Value {
  const rows = b.reshape(x, [c * dims.h, dims.e]);
  const halfSquare = b.mul(b.reduceSum(b.mul(rows, rows), [1]), b.scalar(0.5));
  return b.sub(b.matmul(rows, omegaT), halfSquare);
}

/** LayerNorm, keys and values of layer i, and their contribution Δ to the layer's state. */
export function layerKeysValues(
  b: GraphBuilder,
  dims: Dims,
  source: ModelSource,
  rows: Rows,
  i: number,
  hidden: Value, // [C, D]
): KeysValues {
  const { h: heads, e, m } = dims;
  const c = rows.count;
  const p = (suffix: string): Value => source.param(`blocks.${i}.${suffix}`);
  const features = source.features(i);
  const qkScale = b.scalar(e ** -0.25);
  const featureScale = b.scalar(1 / Math.sqrt(m));

  const a = layerNorm(b, dims, hidden, p('ln1.weight'), p('ln1.bias'));
  const k = rotary(b, dims, rows, b.mul(b.matmul(a, p('attn.wk')), qkScale));
  const values = b.concat(
    [b.reshape(b.matmul(a, p('attn.wv')), [c, heads, e]), shared(b, dims, c).valueOnes],
    2,
  );
  const phiKRows = b.mul(
    b.exp(b.sub(featureLogits(b, dims, c, k, features.omegaT), features.keyStabiliser)),
    featureScale,
  );
  const phiKByHead = b.reshape(phiKRows, [c, heads, m]);
  const masked = rows.keyMask ? b.mul(phiKByHead, rows.keyMask) : phiKByHead;
  const phiK = b.transpose(masked, [1, 0, 2]); // [H, C, M]
  const v = b.transpose(values, [1, 0, 2]); // [H, C, E + 1]
  const contribution = b.matmul(b.transposeLast(phiK), v); // [H, M, E + 1]
  return { a, phiK, v, contribution, features };
}

/**
 * The rest of layer i: queries, causal linear attention from the state that entered the run
 * (O = (Φq Φkᵀ ⊙ causal) V + Φq S_in, numerator and denominator in one matmul), the residual, the MLP.
 */
export function layerMix(
  b: GraphBuilder,
  dims: Dims,
  source: ModelSource,
  rows: Rows,
  i: number,
  hidden: Value, // [C, D]
  kv: KeysValues,
  stateIn: Value, // [H, M, E + 1]
): Value {
  const { d, h: heads, e, m } = dims;
  const c = rows.count;
  const p = (suffix: string): Value => source.param(`blocks.${i}.${suffix}`);
  const qkScale = b.scalar(e ** -0.25);
  const featureScale = b.scalar(1 / Math.sqrt(m));

  const q = rotary(b, dims, rows, b.mul(b.matmul(kv.a, p('attn.wq')), qkScale));
  const queryLogits = featureLogits(b, dims, c, q, kv.features.omegaT);
  const queryStabiliser = b.stopGradient(b.reduceMax(queryLogits, [1]));
  const phiQRows = b.mul(b.exp(b.sub(queryLogits, queryStabiliser)), featureScale);
  const phiQ = b.transpose(b.reshape(phiQRows, [c, heads, m]), [1, 0, 2]); // [H, C, M]

  const scores = b.mul(b.matmul(phiQ, b.transposeLast(kv.phiK)), shared(b, dims, c).causalMask); // [H, C, C]
  const numDen = b.add(b.matmul(scores, kv.v), b.matmul(phiQ, stateIn)); // [H, C, E + 1]
  const numerator = b.slice(numDen, 2, 0, e);
  const denominator = b.add(b.slice(numDen, 2, e, e + 1), b.scalar(ATTN_EPS));
  const attention = b.reshape(b.transpose(b.div(numerator, denominator), [1, 0, 2]), [c, d]);
  let out = b.add(hidden, b.matmul(attention, p('attn.wo')));

  const mlpIn = layerNorm(b, dims, out, p('ln2.weight'), p('ln2.bias'));
  const u = b.add(b.matmul(mlpIn, p('mlp.w1')), p('mlp.b1'));
  const erfTerm = b.add(b.erf(b.mul(u, b.scalar(Math.SQRT1_2))), b.scalar(1));
  const gelu = b.mul(b.mul(u, erfTerm), b.scalar(0.5));
  out = b.add(out, b.add(b.matmul(gelu, p('mlp.w2')), p('mlp.b2')));
  return out;
}

/** Final LayerNorm and the tied head: [C, D] → logits [C, V]. */
export function lmHead(b: GraphBuilder, dims: Dims, source: ModelSource, hidden: Value): Value {
  const final = layerNorm(b, dims, hidden, source.param('ln_f.weight'), source.param('ln_f.bias'));
  return b.matmul(final, b.transposeLast(source.param('tok_emb')));
}
