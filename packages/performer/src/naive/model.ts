// Legend: L tokens, D = H·E model, H heads, E head size, M random features, V vocab, F mlp hidden.
/**
 * The full-sequence naive reference of the causal FAVOR+ Performer LM. It keeps every activation of the
 * whole sequence (that is the point of a reference: no recomputation, no chunking, nothing clever) and
 * runs in float64, so the fast engines can be checked against it. The function computed is exactly the
 * model contract in docs/performer.md.
 *
 * `trunkForward` is the one forward pass: it gives the next-token logits at every position, and it can
 * start from carried attention states at any absolute position, which is all the recurrent decoder
 * (decode.ts) is: the same code, one token at a time.
 */
import { ATTN_EPS, dimsOf } from '../model/config.js';
import type { Dims, ModelConfig } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import { paramShapes } from '../model/params.js';
import type { Params } from '../model/params.js';
import {
  causalLinearAttentionBackward,
  causalLinearAttentionForward,
  emptyAttentionState,
  favorFeaturesBackward,
  favorFeaturesForward,
  ropeBackward,
  ropeForward,
} from './attention.js';
import type { AttentionState } from './attention.js';
import { checkEngineInputs, checkModelInputs, checkTokenIds } from '../model/inputs.js';
import { InvalidTokensError } from '../model/inputs.js';
import {
  crossEntropyBackward,
  crossEntropyForward,
  embeddingBackward,
  embeddingForward,
  geluBackward,
  geluForward,
  layernormBackward,
  layernormForward,
  matmulBackward,
  matmulForward,
  softmaxForward,
  tiedHeadBackward,
  tiedHeadForward,
} from './layers.js';

/** Parameters (or gradients) in float64, same names and element order as `Params`. */
export type Params64 = Record<string, Float64Array>;

export interface NaiveLossAndGrad {
  loss: number;
  grads: Params64;
}

/** Everything one block's backward needs (all of it kept: this is the reference). */
interface BlockActivations {
  inp: Float64Array; // (L, D) residual stream entering the block
  ln1: Float64Array; // (L, D)
  ln1Mean: Float64Array; // (L)
  ln1Rstd: Float64Array; // (L)
  qProj: Float64Array; // (L, D) a @ wq, before scaling and RoPE
  kProj: Float64Array; // (L, D)
  q: Float64Array; // (L, D) after E^(−1/4) and RoPE
  k: Float64Array; // (L, D)
  v: Float64Array; // (L, D)
  phiQ: Float64Array; // (L, H, M)
  phiK: Float64Array; // (L, H, M)
  den: Float64Array; // (L, H)
  attn: Float64Array; // (L, D) heads concatenated
  mid: Float64Array; // (L, D) residual stream after attention
  ln2: Float64Array; // (L, D)
  ln2Mean: Float64Array; // (L)
  ln2Rstd: Float64Array; // (L)
  pre: Float64Array; // (L, F) m @ w1 + b1
  act: Float64Array; // (L, F) GELU(pre)
}

/** The forward pass of L tokens up to the logits: everything the backward pass or a decoder needs. */
interface Trunk {
  blocks: BlockActivations[];
  final: Float64Array; // (L, D) residual stream after the last block
  lnf: Float64Array; // (L, D)
  lnfMean: Float64Array; // (L)
  lnfRstd: Float64Array; // (L)
  logits: Float64Array; // (L, V) next-token logits at every position
}

interface Activations extends Trunk {
  inputs: Int32Array; // (L)
  targets: Int32Array; // (L)
  probs: Float64Array; // (L, V)
  loss: number;
}

/**
 * Where the L tokens sit in their sequence: the absolute position of the first one (RoPE) and the
 * attention states of every layer after the tokens before it, updated in place to the states after the
 * last one. Without it the tokens are a whole sequence from position 0 and zero states.
 */
export interface Carry {
  position: number;
  states: AttentionState[]; // (N) S (H, M, E), z (H, M) per layer
}

function trunkForward(
  dims: Dims,
  config: ModelConfig,
  p: Params64,
  inputs: Int32Array,
  omegas: Float64Array[],
  features: readonly LayerFeatures[],
  carry?: Carry,
): Trunk {
  const { d, h, e, m, v, f } = dims;
  const L = inputs.length;
  const qkScale = e ** -0.25;
  const start = carry?.position ?? 0;

  let x = new Float64Array(L * d); // (L, D)
  embeddingForward(x, inputs, p.tok_emb!, L, d);
  const blocks: BlockActivations[] = [];
  for (let i = 0; i < dims.n; i++) {
    const w = (name: string): Float64Array => p[`blocks.${i}.${name}`]!;
    const b: BlockActivations = {
      inp: x,
      ln1: new Float64Array(L * d),
      ln1Mean: new Float64Array(L),
      ln1Rstd: new Float64Array(L),
      qProj: new Float64Array(L * d),
      kProj: new Float64Array(L * d),
      q: new Float64Array(L * d),
      k: new Float64Array(L * d),
      v: new Float64Array(L * d),
      phiQ: new Float64Array(L * h * m),
      phiK: new Float64Array(L * h * m),
      den: new Float64Array(L * h),
      attn: new Float64Array(L * d),
      mid: new Float64Array(L * d),
      ln2: new Float64Array(L * d),
      ln2Mean: new Float64Array(L),
      ln2Rstd: new Float64Array(L),
      pre: new Float64Array(L * f),
      act: new Float64Array(L * f),
    };
    layernormForward(b.ln1, b.ln1Mean, b.ln1Rstd, x, w('ln1.weight'), w('ln1.bias'), L, d, config.normEps);
    matmulForward(b.qProj, b.ln1, w('attn.wq'), null, L, d, d);
    matmulForward(b.kProj, b.ln1, w('attn.wk'), null, L, d, d);
    matmulForward(b.v, b.ln1, w('attn.wv'), null, L, d, d);
    ropeForward(b.q, b.qProj, L, h, e, config.ropeBase, qkScale, start);
    ropeForward(b.k, b.kProj, L, h, e, config.ropeBase, qkScale, start);
    const omega = omegas[i]!;
    favorFeaturesForward(b.phiQ, b.q, omega, L, h, e, m, { kind: 'query' });
    favorFeaturesForward(b.phiK, b.k, omega, L, h, e, m, { kind: 'key', value: features[i]!.keyStabiliser });
    const state = carry?.states[i] ?? emptyAttentionState(h, e, m);
    causalLinearAttentionForward(b.attn, b.den, b.phiQ, b.phiK, b.v, L, h, e, m, ATTN_EPS, state);
    matmulForward(b.mid, b.attn, w('attn.wo'), null, L, d, d);
    for (let j = 0; j < L * d; j++) b.mid[j]! += x[j]!;
    layernormForward(
      b.ln2,
      b.ln2Mean,
      b.ln2Rstd,
      b.mid,
      w('ln2.weight'),
      w('ln2.bias'),
      L,
      d,
      config.normEps,
    );
    matmulForward(b.pre, b.ln2, w('mlp.w1'), w('mlp.b1'), L, d, f);
    geluForward(b.act, b.pre, L * f);
    const out = new Float64Array(L * d); // (L, D)
    matmulForward(out, b.act, w('mlp.w2'), w('mlp.b2'), L, f, d);
    for (let j = 0; j < L * d; j++) out[j]! += b.mid[j]!;
    blocks.push(b);
    x = out;
  }
  if (carry) carry.position += L;
  const lnf = new Float64Array(L * d); // (L, D)
  const lnfMean = new Float64Array(L); // (L)
  const lnfRstd = new Float64Array(L); // (L)
  layernormForward(lnf, lnfMean, lnfRstd, x, p['ln_f.weight']!, p['ln_f.bias']!, L, d, config.normEps);
  const logits = new Float64Array(L * v); // (L, V)
  tiedHeadForward(logits, lnf, p.tok_emb!, L, d, v);
  return { blocks, final: x, lnf, lnfMean, lnfRstd, logits };
}

/** The training forward: the trunk over tokens[0, L) and the mean cross-entropy against tokens[1, L]. */
function forward(
  dims: Dims,
  config: ModelConfig,
  p: Params64,
  tokens: Int32Array,
  omegas: Float64Array[],
  features: readonly LayerFeatures[],
): Activations {
  const L = tokens.length - 1;
  const inputs = tokens.subarray(0, L);
  const targets = tokens.subarray(1);
  const trunk = trunkForward(dims, config, p, inputs, omegas, features);
  const probs = new Float64Array(L * dims.v); // (L, V)
  const loss = crossEntropyForward(probs, trunk.logits, targets, L, dims.v);
  return { ...trunk, inputs, targets, probs, loss };
}

function backward(
  dims: Dims,
  config: ModelConfig,
  p: Params64,
  acts: Activations,
  omegas: Float64Array[],
): Params64 {
  const { d, h, e, m, v, f } = dims;
  const L = acts.inputs.length;
  const qkScale = e ** -0.25;
  const grads: Params64 = Object.fromEntries(
    Object.entries(p).map(([k, t]) => [k, new Float64Array(t.length)]),
  );

  const dlogits = new Float64Array(L * v); // (L, V)
  crossEntropyBackward(dlogits, acts.probs, acts.targets, 1, L, v);
  const dlnf = new Float64Array(L * d); // (L, D)
  tiedHeadBackward(dlnf, grads.tok_emb!, dlogits, acts.lnf, p.tok_emb!, L, d, v);
  let dx = new Float64Array(L * d); // (L, D) gradient of the residual stream
  layernormBackward(
    dx,
    grads['ln_f.weight']!,
    grads['ln_f.bias']!,
    dlnf,
    acts.final,
    p['ln_f.weight']!,
    acts.lnfMean,
    acts.lnfRstd,
    L,
    d,
  );
  for (let i = dims.n - 1; i >= 0; i--) {
    const b = acts.blocks[i]!;
    const w = (name: string): Float64Array => p[`blocks.${i}.${name}`]!;
    const g = (name: string): Float64Array => grads[`blocks.${i}.${name}`]!;

    // MLP branch; the residual passes dx straight through to dmid.
    const dmid = Float64Array.from(dx); // (L, D)
    const dact = new Float64Array(L * f); // (L, F)
    matmulBackward(dact, g('mlp.w2'), g('mlp.b2'), dx, b.act, w('mlp.w2'), L, f, d);
    const dpre = new Float64Array(L * f); // (L, F)
    geluBackward(dpre, dact, b.pre, L * f);
    const dln2 = new Float64Array(L * d); // (L, D)
    matmulBackward(dln2, g('mlp.w1'), g('mlp.b1'), dpre, b.ln2, w('mlp.w1'), L, d, f);
    layernormBackward(
      dmid,
      g('ln2.weight'),
      g('ln2.bias'),
      dln2,
      b.mid,
      w('ln2.weight'),
      b.ln2Mean,
      b.ln2Rstd,
      L,
      d,
    );

    // Attention branch; again the residual passes dmid straight through.
    const dinp = Float64Array.from(dmid); // (L, D)
    const dattn = new Float64Array(L * d); // (L, D)
    matmulBackward(dattn, g('attn.wo'), null, dmid, b.attn, w('attn.wo'), L, d, d);
    const dphiQ = new Float64Array(L * h * m); // (L, H, M)
    const dphiK = new Float64Array(L * h * m); // (L, H, M)
    const dv = new Float64Array(L * d); // (L, D)
    causalLinearAttentionBackward(dphiQ, dphiK, dv, dattn, b.attn, b.den, b.phiQ, b.phiK, b.v, L, h, e, m);
    const dq = new Float64Array(L * d); // (L, D) after RoPE
    const dk = new Float64Array(L * d); // (L, D)
    favorFeaturesBackward(dq, dphiQ, b.phiQ, b.q, omegas[i]!, L, h, e, m);
    favorFeaturesBackward(dk, dphiK, b.phiK, b.k, omegas[i]!, L, h, e, m);
    const dqProj = new Float64Array(L * d); // (L, D) before scaling and RoPE
    const dkProj = new Float64Array(L * d); // (L, D)
    ropeBackward(dqProj, dq, L, h, e, config.ropeBase, qkScale);
    ropeBackward(dkProj, dk, L, h, e, config.ropeBase, qkScale);
    const dln1 = new Float64Array(L * d); // (L, D) gets all three projections' gradients
    matmulBackward(dln1, g('attn.wq'), null, dqProj, b.ln1, w('attn.wq'), L, d, d);
    matmulBackward(dln1, g('attn.wk'), null, dkProj, b.ln1, w('attn.wk'), L, d, d);
    matmulBackward(dln1, g('attn.wv'), null, dv, b.ln1, w('attn.wv'), L, d, d);
    layernormBackward(
      dinp,
      g('ln1.weight'),
      g('ln1.bias'),
      dln1,
      b.inp,
      w('ln1.weight'),
      b.ln1Mean,
      b.ln1Rstd,
      L,
      d,
    );
    dx = dinp;
  }
  embeddingBackward(grads.tok_emb!, dx, acts.inputs, L, d);
  return grads;
}

function prepare(
  config: ModelConfig,
  params: Readonly<Record<string, ArrayLike<number>>>,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
): { dims: Dims; p: Params64; omegas: Float64Array[] } {
  checkEngineInputs(config, params, tokens, features);
  return toFloat64(config, params, features);
}

function toFloat64(
  config: ModelConfig,
  params: Readonly<Record<string, ArrayLike<number>>>,
  features: readonly LayerFeatures[],
): { dims: Dims; p: Params64; omegas: Float64Array[] } {
  const p: Params64 = {};
  for (const name of Object.keys(paramShapes(config))) p[name] = Float64Array.from(params[name]!);
  return { dims: dimsOf(config), p, omegas: features.map((layer) => Float64Array.from(layer.omega)) };
}

/** A model checked once and held in float64, for repeated forward calls (the decoder's steps). */
export interface NaiveModel {
  readonly config: ModelConfig;
  readonly dims: Dims;
  readonly p: Params64;
  readonly omegas: Float64Array[]; // (N) ω (M, E) per layer
  readonly features: readonly LayerFeatures[];
}

export function naiveModel(
  config: ModelConfig,
  params: Params | Params64,
  features: readonly LayerFeatures[],
): NaiveModel {
  checkModelInputs(config, params, features);
  return { config, features, ...toFloat64(config, params, features) };
}

/**
 * Next-token logits (L, V) of `inputs` (L ≥ 1 ids): row t is the prediction after inputs[0..t]. With a
 * carry the inputs continue a sequence (see Carry), else they start one.
 */
export function naiveForwardLogits(model: NaiveModel, inputs: Int32Array, carry?: Carry): Float64Array {
  checkTokenIds(model.config, inputs);
  if (inputs.length === 0) throw new InvalidTokensError('need at least one token id');
  return trunkForward(model.dims, model.config, model.p, inputs, model.omegas, model.features, carry).logits;
}

/** Next-token logits (L, V) at every position of `inputs`, in float64 (the full-sequence forward). */
export function naiveLogits(
  config: ModelConfig,
  params: Params | Params64,
  inputs: Int32Array,
  features: readonly LayerFeatures[],
): Float64Array {
  return naiveForwardLogits(naiveModel(config, params, features), inputs);
}

/** Next-token probabilities (L, V) at every position of `inputs`: softmax of naiveLogits. */
export function naiveNextTokenProbs(
  config: ModelConfig,
  params: Params | Params64,
  inputs: Int32Array,
  features: readonly LayerFeatures[],
): Float64Array {
  const logits = naiveLogits(config, params, inputs, features); // (L, V)
  const probs = new Float64Array(logits.length); // (L, V)
  softmaxForward(probs, logits, inputs.length, config.vocabSize);
  return probs;
}

/**
 * Mean next-token cross-entropy of `tokens` (L + 1 ids) and its gradient for every parameter, in float64.
 * Accepts float32 `Params` or float64 parameters (the finite-difference test perturbs those).
 */
export function naiveLossAndGrad(
  config: ModelConfig,
  params: Params | Params64,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
): NaiveLossAndGrad {
  const { dims, p, omegas } = prepare(config, params, tokens, features);
  const acts = forward(dims, config, p, tokens, omegas, features);
  return { loss: acts.loss, grads: backward(dims, config, p, acts, omegas) };
}

/** The same loss, forward only. */
export function naiveLoss(
  config: ModelConfig,
  params: Params | Params64,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
): number {
  const { dims, p, omegas } = prepare(config, params, tokens, features);
  return forward(dims, config, p, tokens, omegas, features).loss;
}
