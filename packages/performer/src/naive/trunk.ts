// Legend: L tokens, D = H·E model, H query heads, K key/value heads, E head size, M random features,
// V vocab, F mlp hidden, N layers, P learned positions.
/**
 * The one forward pass of the naive reference, for every model family ModelConfig describes, from the
 * token ids to the next-token logits at every position. It keeps every activation of the sequence (that
 * is the point of a reference: no recomputation, no chunking, nothing clever) and runs in float64. The
 * attention is a parameter: FAVOR+ (the model, with a hand-written backward in model.ts) or exact softmax
 * (the teacher it approximates, softmax.ts); everything around the attention is this same code.
 *
 * It can start from carried attention states at any absolute position, which is all the recurrent
 * decoder (decode.ts) is: the same code, one token at a time. Not exported from naive/index.ts.
 */
import { ATTN_EPS } from '../model/config.js';
import type { Dims, ModelConfig } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import { checkPositions } from '../model/inputs.js';
import { paramShapes } from '../model/params.js';
import {
  causalLinearAttentionForward,
  causalSoftmaxAttentionForward,
  emptyAttentionState,
  favorFeaturesForward,
  ropeForward,
} from './attention.js';
import type { AttentionShape, AttentionState } from './attention.js';
import {
  embeddingForward,
  geluForward,
  geluTanhForward,
  layernormForward,
  matmulForward,
  positionEmbeddingForward,
  rmsnormForward,
  swigluForward,
  tiedHeadForward,
} from './layers.js';

/** Parameters (or gradients) in float64, same names and element order as `Params`. */
export type Params64 = Record<string, Float64Array>;

/**
 * Where the L tokens sit in their sequence: the absolute position of the first one (RoPE, learned
 * positions) and the attention states of every layer after the tokens before it, updated in place to the
 * states after the last one. Without it the tokens are a whole sequence from position 0 and zero states.
 */
export interface Carry {
  position: number;
  states: AttentionState[]; // (N) S (K, M, E), z (K, M) per layer
}

/** Which attention the blocks use. */
export type TrunkAttention =
  | { kind: 'favor'; omegas: Float64Array[]; features: readonly LayerFeatures[]; carry?: Carry } // ω (M, E) per layer
  | { kind: 'softmax' };

/** A norm's output and what its backward needs. */
export interface Normed {
  out: Float64Array; // (L, D)
  mean: Float64Array | null; // (L) layernorm only
  rstd: Float64Array; // (L)
}

/** FAVOR+'s activations in one block (absent with softmax attention, which has no backward). */
export interface FavorActivations {
  phiQ: Float64Array; // (L, H, M)
  phiK: Float64Array; // (L, K, M)
  den: Float64Array; // (L, H)
}

/** Everything one block's backward needs (all of it kept: this is the reference). */
export interface BlockActivations {
  inp: Float64Array; // (L, D) residual stream entering the block
  ln1: Normed;
  qProj: Float64Array; // (L, D) a @ wq + bq, before scaling and RoPE
  kProj: Float64Array; // (L, K·E) a @ wk + bk
  q: Float64Array; // (L, D) after E^(−1/4) and RoPE
  k: Float64Array; // (L, K·E)
  v: Float64Array; // (L, K·E) a @ wv + bv
  favor: FavorActivations | null;
  attn: Float64Array; // (L, D) heads concatenated
  mid: Float64Array; // (L, D) residual stream after attention
  ln2: Normed;
  gate: Float64Array | null; // (L, F) m @ wg + bg, swiglu only
  pre: Float64Array; // (L, F) m @ w1 + b1
  act: Float64Array; // (L, F) GELU(pre), or silu(gate) ⊙ pre
}

/** The forward pass of L tokens up to the logits: everything the backward pass or a decoder needs. */
export interface Trunk {
  start: number; // absolute position of the first token
  blocks: BlockActivations[];
  final: Float64Array; // (L, D) residual stream after the last block
  lnf: Normed;
  logits: Float64Array; // (L, V) next-token logits at every position
}

export function attentionShape(dims: Dims): AttentionShape {
  return { heads: dims.h, kvHeads: dims.kv, headSize: dims.e, features: dims.m };
}

/** LayerNorm or RMSNorm of `inp` with the parameters `${prefix}.weight` (and `.bias`). */
function normForward(config: ModelConfig, p: Params64, prefix: string, inp: Float64Array, d: number): Normed {
  const L = inp.length / d;
  const out = new Float64Array(L * d); // (L, D)
  const rstd = new Float64Array(L); // (L)
  const weight = p[`${prefix}.weight`]!;
  if (config.norm === 'rmsnorm') {
    rmsnormForward(out, rstd, inp, weight, L, d, config.normEps);
    return { out, mean: null, rstd };
  }
  const mean = new Float64Array(L); // (L)
  layernormForward(out, mean, rstd, inp, weight, p[`${prefix}.bias`]!, L, d, config.normEps);
  return { out, mean, rstd };
}

/**
 * q and k get E^(−1/4) each (the softmax kernel exp(q·k/√E) split over both sides), then RoPE at their
 * absolute positions when the family rotates; learned positions were added to the embedding instead.
 */
function scaleAndRotate(
  config: ModelConfig,
  out: Float64Array, // (L, heads·E)
  inp: Float64Array, // (L, heads·E)
  rows: number,
  heads: number,
  headSize: number,
  start: number,
): void {
  const scale = headSize ** -0.25;
  if (config.positions === 'rope')
    ropeForward(out, inp, rows, heads, headSize, config.ropeBase, scale, start);
  else for (let i = 0; i < out.length; i++) out[i] = scale * inp[i]!;
}

export function trunkForward(
  dims: Dims,
  config: ModelConfig,
  p: Params64,
  inputs: Int32Array,
  attention: TrunkAttention,
): Trunk {
  const { d, h, kv, e, m, v, f } = dims;
  const dkv = kv * e;
  const L = inputs.length;
  const shape = attentionShape(dims);
  const carry = attention.kind === 'favor' ? attention.carry : undefined;
  const start = carry?.position ?? 0;
  checkPositions(config, start, L);
  const bias = (name: string, present: boolean): Float64Array | null => (present ? p[name]! : null);

  let x = new Float64Array(L * d); // (L, D)
  embeddingForward(x, inputs, p.tok_emb!, L, d);
  if (config.positions === 'learned') positionEmbeddingForward(x, p.pos_emb!, start, L, d);
  const blocks: BlockActivations[] = [];
  for (let i = 0; i < dims.n; i++) {
    const name = (suffix: string): string => `blocks.${i}.${suffix}`;
    const w = (suffix: string): Float64Array => p[name(suffix)]!;
    const ln1 = normForward(config, p, name('ln1'), x, d);
    const qProj = new Float64Array(L * d); // (L, D)
    const kProj = new Float64Array(L * dkv); // (L, K·E)
    const vals = new Float64Array(L * dkv); // (L, K·E)
    matmulForward(qProj, ln1.out, w('attn.wq'), bias(name('attn.bq'), config.bias.qkv), L, d, d);
    matmulForward(kProj, ln1.out, w('attn.wk'), bias(name('attn.bk'), config.bias.qkv), L, d, dkv);
    matmulForward(vals, ln1.out, w('attn.wv'), bias(name('attn.bv'), config.bias.qkv), L, d, dkv);
    const q = new Float64Array(L * d); // (L, D)
    const k = new Float64Array(L * dkv); // (L, K·E)
    scaleAndRotate(config, q, qProj, L, h, e, start);
    scaleAndRotate(config, k, kProj, L, kv, e, start);

    const attn = new Float64Array(L * d); // (L, D)
    let favor: FavorActivations | null = null;
    if (attention.kind === 'favor') {
      favor = {
        phiQ: new Float64Array(L * h * m),
        phiK: new Float64Array(L * kv * m),
        den: new Float64Array(L * h),
      };
      const omega = attention.omegas[i]!;
      const keyStabiliser = attention.features[i]!.keyStabiliser;
      favorFeaturesForward(favor.phiQ, q, omega, L, h, e, m, { kind: 'query' });
      favorFeaturesForward(favor.phiK, k, omega, L, kv, e, m, { kind: 'key', value: keyStabiliser });
      const state = carry?.states[i] ?? emptyAttentionState(kv, e, m);
      causalLinearAttentionForward(attn, favor.den, favor.phiQ, favor.phiK, vals, L, shape, ATTN_EPS, state);
    } else {
      causalSoftmaxAttentionForward(attn, q, k, vals, L, shape);
    }
    const mid = new Float64Array(L * d); // (L, D)
    matmulForward(mid, attn, w('attn.wo'), bias(name('attn.bo'), config.bias.attnOut), L, d, d);
    for (let j = 0; j < L * d; j++) mid[j]! += x[j]!;

    const ln2 = normForward(config, p, name('ln2'), mid, d);
    const mlpBias = config.bias.mlp;
    const pre = new Float64Array(L * f); // (L, F)
    const act = new Float64Array(L * f); // (L, F)
    let gate: Float64Array | null = null;
    matmulForward(pre, ln2.out, w('mlp.w1'), bias(name('mlp.b1'), mlpBias), L, d, f);
    if (config.mlp === 'swiglu') {
      gate = new Float64Array(L * f); // (L, F)
      matmulForward(gate, ln2.out, w('mlp.wg'), bias(name('mlp.bg'), mlpBias), L, d, f);
      swigluForward(act, gate, pre, L * f);
    } else if (config.mlp === 'gelu-tanh') geluTanhForward(act, pre, L * f);
    else geluForward(act, pre, L * f);
    const out = new Float64Array(L * d); // (L, D)
    matmulForward(out, act, w('mlp.w2'), bias(name('mlp.b2'), mlpBias), L, f, d);
    for (let j = 0; j < L * d; j++) out[j]! += mid[j]!;

    blocks.push({ inp: x, ln1, qProj, kProj, q, k, v: vals, favor, attn, mid, ln2, gate, pre, act });
    x = out;
  }
  if (carry) carry.position += L;
  const lnf = normForward(config, p, 'ln_f', x, d);
  const logits = new Float64Array(L * v); // (L, V)
  if (config.tiedHead) tiedHeadForward(logits, lnf.out, p.tok_emb!, L, d, v);
  else matmulForward(logits, lnf.out, p.lm_head!, null, L, d, v);
  return { start, blocks, final: x, lnf, logits };
}

/** Every parameter the config names, converted to float64 (the caller checked names and sizes). */
export function params64(config: ModelConfig, params: Readonly<Record<string, ArrayLike<number>>>): Params64 {
  const p: Params64 = {};
  for (const name of Object.keys(paramShapes(config))) p[name] = Float64Array.from(params[name]!);
  return p;
}
