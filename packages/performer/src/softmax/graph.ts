// Legend: B sequences, L tokens each, D model, H heads, K key/value heads, G = H/K, E head size, V vocab,
// P parameters (flat).
/**
 * The softmax-attention teacher as one ONNX graph: the model params.ts names, every family (norms, MLPs,
 * positions, grouped-query attention, biases, head: the layers.ts pieces themselves), with exact causal
 * softmax attention over whole sequences instead of FAVOR+. It exists to be a pretrained model whose
 * attention is sharp, so the softmax → FAVOR+ conversion error (convert.ts) measures something: a random
 * model's attention is nearly uniform, and no pretrained weights can be downloaded here.
 *
 * Same parameters, layout and q/k projection as the Performer (each of q and k scaled by E^(−1/4), so
 * the scores are q·k/√E and FAVOR+ estimates exactly their exp), so one set of params runs in both.
 *
 * Inputs:  params [P] (paramLayout order), tokens [2, B·L] int32 (row 0 inputs, row 1 targets; row 1
 *          is not read by the logits graph).
 * Kinds:   'logits' → logits [B·L, V];  'train' → loss (mean CE over B·L predictions), grads [P].
 */
import type { ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';
import { gradients } from '../onnx/autodiff.js';
import type { Value } from '../onnx/graph.js';
import { GraphBuilder } from '../onnx/graph.js';
import { paramLayout } from '../chunk/graphs.js';
import type { ModelSource, Positions, Rows } from '../chunk/layers.js';
import { embed, linear, lmHead, mlp, norm, positionsFrom, projectQK } from '../chunk/layers.js';

export type TeacherGraphKind = 'logits' | 'train';

/** Masked scores get this added before the softmax: exp underflows to exactly 0 in fp32. */
const MASKED = -1e30;

export function buildSoftmaxGraph(
  config: ModelConfig,
  batch: number,
  seqLen: number,
  kind: TeacherGraphKind,
): Uint8Array {
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
  // The teacher has no random features: layers.ts asks a source for them only in FAVOR+ attention.
  const source: ModelSource = {
    param: (name) => params.get(name)!,
    features: () => {
      throw new TypeError('softmax attention has no random features');
    },
  };
  const ids = (row: number): Value => b.reshape(b.slice(tokens, 0, row, row + 1), [c, 1]);

  // Positions 0..L−1 of one sequence, repeated for every sequence.
  const one = positionsFrom(b, config, seqLen, b.constantInt32(Int32Array.of(0), [1]));
  const tile = (x: Value, shape: number[]): Value =>
    b.reshape(b.expand(b.reshape(x, [1, ...x.shape]), [batch, ...x.shape]), shape);
  const positions: Positions =
    one.kind === 'rope'
      ? { kind: 'rope', cos: tile(one.cos, [c, 1, dims.e]), sin: tile(one.sin, [c, 1, dims.e]) }
      : { kind: 'learned', index: tile(one.index, [c]) };
  const rows: Rows = { count: c, positions };
  const maskBias = b.constant(
    Float32Array.from({ length: seqLen * seqLen }, (_, i) =>
      i % seqLen <= Math.floor(i / seqLen) ? 0 : MASKED,
    ),
    [seqLen, seqLen],
  );

  let hidden = embed(b, config, source, rows, ids(0)); // [B·L, D]
  for (let i = 0; i < dims.n; i++) {
    const name = (suffix: string): string => `blocks.${i}.${suffix}`;
    const qkvBias = (suffix: string): string | false => config.bias.qkv && name(suffix);
    const a = norm(b, config, source, name('ln1'), hidden);
    const attention = softmaxAttention(b, config, batch, seqLen, maskBias, {
      q: projectQK(b, config, source, rows, a, name('attn.wq'), qkvBias('attn.bq'), dims.h),
      k: projectQK(b, config, source, rows, a, name('attn.wk'), qkvBias('attn.bk'), dims.kv),
      v: linear(b, source, a, name('attn.wv'), qkvBias('attn.bv')),
    });
    hidden = b.add(
      hidden,
      linear(b, source, attention, name('attn.wo'), config.bias.attnOut && name('attn.bo')),
    );
    hidden = b.add(hidden, mlp(b, config, source, i, norm(b, config, source, name('ln2'), hidden)));
  }
  const logits = lmHead(b, config, source, hidden); // [B·L, V]
  if (kind === 'logits') {
    b.output(logits, 'logits');
    return b.build();
  }
  // As in chunk/graphs.ts: the target logits are picked first, so backward scatter-adds them last.
  const targetLogit = b.takeAlongRows(logits, ids(1)); // [B·L, 1]
  const maxLogit = b.stopGradient(b.reduceMax(logits, [1]));
  const logSumExp = b.add(b.log(b.reduceSum(b.exp(b.sub(logits, maxLogit)), [1])), maxLogit);
  const loss = b.reshape(b.reduceMean(b.sub(logSumExp, targetLogit), [0, 1]), []);
  b.output(loss, 'loss');
  const paramValues = layout.slots.map((slot) => source.param(slot.name));
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

/**
 * Exact causal softmax attention of B sequences: softmax(q·k + mask) v per head (q and k projected,
 * scaled and rotated by projectQK, so q·k is the usual q·k/√E), query head k·G + g reading key/value
 * head k (Hugging Face's repeat_kv order). q [B·L, H, E], k [B·L, K, E], v [B·L, K·E] → [B·L, D].
 */
function softmaxAttention(
  b: GraphBuilder,
  config: ModelConfig,
  batch: number,
  seqLen: number,
  maskBias: Value, // [L, L] 0 where τ ≤ t, MASKED elsewhere
  proj: { q: Value; k: Value; v: Value },
): Value {
  const { d, h, kv, e } = dimsOf(config);
  const g = h / kv;
  const byKvHead = (x: Value): Value =>
    b.reshape(b.transpose(b.reshape(x, [batch, seqLen, kv, e]), [0, 2, 1, 3]), [batch, kv, 1, seqLen, e]);
  const queries = b.transpose(b.reshape(proj.q, [batch, seqLen, kv, g, e]), [0, 2, 3, 1, 4]); // [B, K, G, L, E]
  const scores = b.add(b.matmul(queries, b.transposeLast(byKvHead(proj.k))), maskBias); // [B, K, G, L, L]
  const weights = b.exp(b.sub(scores, b.stopGradient(b.reduceMax(scores, [-1]))));
  const probs = b.div(weights, b.reduceSum(weights, [-1]));
  const out = b.matmul(probs, byKvHead(proj.v)); // [B, K, G, L, E]
  return b.reshape(b.transpose(out, [0, 3, 1, 2, 4]), [batch * seqLen, d]);
}
