// Legend: B sequences, L tokens each, D model, H heads, K key/value heads, G = H/K, E head size, V vocab,
// F MLP hidden size, P parameters (flat).
/**
 * The softmax-attention teacher as one ONNX graph: the model params.ts names (RMSNorm or LayerNorm,
 * SwiGLU, RoPE, grouped-query attention, optional biases, tied or untied head) with exact causal softmax
 * attention over whole sequences instead of FAVOR+. It exists to be a pretrained model whose attention
 * is sharp, so the softmax → FAVOR+ conversion error (convert.ts) measures something: a random model's
 * attention is nearly uniform, and no pretrained weights can be downloaded here.
 *
 * Same parameter names, layout and q/k scaling as the Performer (each of q and k scaled by E^(−1/4), so
 * the scores are q·k/√E and FAVOR+ estimates exactly their exp), so one set of params runs in both.
 * LayerNorm, RoPE and the one-hot embedding are layers.ts pieces; attention, SwiGLU and RMSNorm are here until the
 * family-aware layers.ts has them.
 *
 * Inputs:  params [P] (paramLayout order), tokens [2, B·L] int32 (row 0 inputs, row 1 targets; row 1
 *          is not read by the logits graph).
 * Kinds:   'logits' → logits [B·L, V];  'train' → loss (mean CE over B·L predictions), grads [P].
 */
import type { Dims, ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';
import { gradients } from '../onnx/autodiff.js';
import type { Value } from '../onnx/graph.js';
import { GraphBuilder } from '../onnx/graph.js';
import { paramLayout } from '../chunk/graphs.js';
import type { Rows } from '../chunk/layers.js';
import { embedOneHot, layerNorm, ropeFromPosition, rotary } from '../chunk/layers.js';
import { UnsupportedTeacherError } from './errors.js';

export type TeacherGraphKind = 'logits' | 'train';

/** Masked scores get this added before the softmax: exp underflows to exactly 0 in fp32. */
const MASKED = -1e30;

/** The families the teacher graph implements; anything else is refused rather than computed wrongly. */
export function checkTeacherConfig(config: ModelConfig): void {
  if (config.mlp !== 'swiglu') throw new UnsupportedTeacherError(`mlp '${config.mlp}' (only swiglu)`);
  if (config.positions !== 'rope') {
    throw new UnsupportedTeacherError(`positions '${config.positions}' (only rope)`);
  }
}

export function buildSoftmaxGraph(
  config: ModelConfig,
  batch: number,
  seqLen: number,
  kind: TeacherGraphKind,
): Uint8Array {
  checkTeacherConfig(config);
  const dims = dimsOf(config);
  const c = batch * seqLen;
  const b = new GraphBuilder(`softmax_${kind}_b${batch}_l${seqLen}`);
  const layout = paramLayout(config);
  const flat = b.input('params', 'float', [layout.total]);
  const tokens = b.input('tokens', 'int32', [2, c]);
  const params = new Map<string, Value>();
  for (const slot of layout.slots) {
    params.set(slot.name, b.reshape(b.slice(flat, 0, slot.offset, slot.offset + slot.size), slot.shape));
  }
  const param = (name: string): Value => params.get(name)!;
  const optional = (name: string): Value | undefined => params.get(name);
  const ids = (row: number): Value => b.reshape(b.slice(tokens, 0, row, row + 1), [c, 1]);

  // RoPE of positions 0..L−1 (computed in double in the graph), repeated for every sequence.
  const { cos, sin } = ropeFromPosition(
    b,
    dims,
    config.ropeBase,
    seqLen,
    b.constantInt32(Int32Array.of(0), [1]),
  );
  const tile = (x: Value): Value =>
    b.reshape(b.expand(b.reshape(x, [1, seqLen, 1, dims.e]), [batch, seqLen, 1, dims.e]), [c, 1, dims.e]);
  const rows: Rows = { count: c, cos: tile(cos), sin: tile(sin) };
  const maskBias = b.constant(
    Float32Array.from({ length: seqLen * seqLen }, (_, i) =>
      i % seqLen <= Math.floor(i / seqLen) ? 0 : MASKED,
    ),
    [seqLen, seqLen],
  );

  const norm = (x: Value, prefix: string): Value =>
    config.norm === 'rmsnorm'
      ? rmsNorm(b, dims, x, param(`${prefix}.weight`))
      : layerNorm(b, dims, x, param(`${prefix}.weight`), param(`${prefix}.bias`));
  const linear = (x: Value, weight: string, bias: string): Value => {
    const y = b.matmul(x, param(weight));
    const shift = optional(bias);
    return shift ? b.add(y, shift) : y;
  };

  let hidden = b.matmul(embedOneHot(b, dims, ids(0)), param('tok_emb')); // [B·L, D]
  for (let i = 0; i < dims.n; i++) {
    const p = `blocks.${i}`;
    const a = norm(hidden, `${p}.ln1`);
    const attention = softmaxAttention(b, dims, rows, batch, seqLen, maskBias, {
      q: linear(a, `${p}.attn.wq`, `${p}.attn.bq`),
      k: linear(a, `${p}.attn.wk`, `${p}.attn.bk`),
      v: linear(a, `${p}.attn.wv`, `${p}.attn.bv`),
    });
    hidden = b.add(hidden, linear(attention, `${p}.attn.wo`, `${p}.attn.bo`));
    const m = norm(hidden, `${p}.ln2`);
    const gate = linear(m, `${p}.mlp.wg`, `${p}.mlp.bg`);
    const silu = b.div(gate, b.add(b.exp(b.neg(gate)), b.scalar(1))); // x·σ(x)
    const up = linear(m, `${p}.mlp.w1`, `${p}.mlp.b1`);
    hidden = b.add(hidden, linear(b.mul(silu, up), `${p}.mlp.w2`, `${p}.mlp.b2`));
  }
  const final = norm(hidden, 'ln_f');
  const logits = b.matmul(final, config.tiedHead ? b.transposeLast(param('tok_emb')) : param('lm_head'));
  if (kind === 'logits') {
    b.output(logits, 'logits');
    return b.build();
  }
  const maxLogit = b.stopGradient(b.reduceMax(logits, [1]));
  const logSumExp = b.add(b.log(b.reduceSum(b.exp(b.sub(logits, maxLogit)), [1])), maxLogit);
  const targetLogit = b.reduceSum(b.mul(logits, embedOneHot(b, dims, ids(1))), [1]);
  const loss = b.reshape(b.reduceMean(b.sub(logSumExp, targetLogit), [0, 1]), []);
  b.output(loss, 'loss');
  const paramValues = layout.slots.map((slot) => param(slot.name));
  const grads = gradients(b, [[loss, b.scalar(1)]], paramValues);
  b.output(
    b.concat(
      grads.map((g, k) => b.reshape(g, [layout.slots[k]!.size])),
      0,
    ),
    'grads',
  );
  return b.build();
}

/** x / √(mean(x²) + eps) · weight per row (Llama's RMSNorm). */
function rmsNorm(b: GraphBuilder, dims: Dims, x: Value, weight: Value): Value {
  const meanSquare = b.reduceMean(b.mul(x, x), [-1]);
  return b.mul(b.div(x, b.sqrt(b.add(meanSquare, b.scalar(dims.normEps)))), weight);
}

/**
 * Exact causal softmax attention of B sequences: softmax(q·kᵀ/√E + mask) v per head, query head
 * k·G + g reading key/value head k (Hugging Face's repeat_kv order). q [B·L, D], k and v [B·L, K·E]
 * → [B·L, D].
 */
function softmaxAttention(
  b: GraphBuilder,
  dims: Dims,
  rows: Rows,
  batch: number,
  seqLen: number,
  maskBias: Value, // [L, L] 0 where τ ≤ t, MASKED elsewhere
  proj: { q: Value; k: Value; v: Value },
): Value {
  const { d, h, kv, e } = dims;
  const g = h / kv;
  const qkScale = b.scalar(e ** -0.25);
  const q = rotary(b, dims, rows, b.mul(proj.q, qkScale)); // [B·L, H, E]
  const k = rotary(b, { ...dims, h: kv }, rows, b.mul(proj.k, qkScale)); // [B·L, K, E]
  const byKvHead = (x: Value): Value =>
    b.reshape(b.transpose(b.reshape(x, [batch, seqLen, kv, e]), [0, 2, 1, 3]), [batch, kv, 1, seqLen, e]);
  const queries = b.transpose(b.reshape(q, [batch, seqLen, kv, g, e]), [0, 2, 3, 1, 4]); // [B, K, G, L, E]
  const scores = b.add(b.matmul(queries, b.transposeLast(byKvHead(k))), maskBias); // [B, K, G, L, L]
  const weights = b.exp(b.sub(scores, b.stopGradient(b.reduceMax(scores, [-1]))));
  const probs = b.div(weights, b.reduceSum(weights, [-1]));
  const out = b.matmul(probs, byKvHead(proj.v)); // [B, K, G, L, E]
  return b.reshape(b.transpose(out, [0, 3, 1, 2, 4]), [batch * seqLen, d]);
}
