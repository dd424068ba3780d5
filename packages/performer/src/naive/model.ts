// Legend: L tokens, D = H·E model, H query heads, K key/value heads, E head size, M random features,
// V vocab, F mlp hidden, N layers, P learned positions.
/**
 * The full-sequence naive reference of the causal FAVOR+ Performer LM, for every model family: the loss,
 * its hand-written backward and the logits, in float64, so the fast engines can be checked against it.
 * The forward pass is trunk.ts (shared with the softmax-attention reference); the function computed is
 * the model contract in docs/performer.md.
 */
import { dimsOf } from '../model/config.js';
import type { Dims, ModelConfig } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import type { Params } from '../model/params.js';
import { checkEngineInputs, checkModelInputs, checkTokenIds } from '../model/inputs.js';
import { InvalidTokensError } from '../model/inputs.js';
import { causalLinearAttentionBackward, favorFeaturesBackward, ropeBackward } from './attention.js';
import {
  crossEntropyBackward,
  crossEntropyForward,
  embeddingBackward,
  geluBackward,
  geluTanhBackward,
  layernormBackward,
  matmulBackward,
  positionEmbeddingBackward,
  rmsnormBackward,
  softmaxForward,
  swigluBackward,
  tiedHeadBackward,
} from './layers.js';
import { attentionShape, params64, trunkForward } from './trunk.js';
import type { Carry, Normed, Params64, Trunk } from './trunk.js';

export type { Carry, Params64 };

export interface NaiveLossAndGrad {
  loss: number;
  grads: Params64;
}

interface Activations extends Trunk {
  inputs: Int32Array; // (L)
  targets: Int32Array; // (L)
  probs: Float64Array; // (L, V)
  loss: number;
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
  const trunk = trunkForward(dims, config, p, inputs, { kind: 'favor', omegas, features });
  const probs = new Float64Array(L * dims.v); // (L, V)
  const loss = crossEntropyForward(probs, trunk.logits, targets, L, dims.v);
  return { ...trunk, inputs, targets, probs, loss };
}

/** dinp += ∂/∂inp of the norm at `prefix` (whose forward gave `normed`), and its parameters' gradients. */
function normBackward(
  config: ModelConfig,
  p: Params64,
  grads: Params64,
  prefix: string,
  dinp: Float64Array, // (L, D) +=
  dout: Float64Array, // (L, D)
  inp: Float64Array, // (L, D)
  normed: Normed,
  d: number,
): void {
  const L = inp.length / d;
  const weight = p[`${prefix}.weight`]!;
  const dweight = grads[`${prefix}.weight`]!;
  if (config.norm === 'rmsnorm') {
    rmsnormBackward(dinp, dweight, dout, inp, weight, normed.rstd, L, d);
  } else {
    const dbias = grads[`${prefix}.bias`]!;
    layernormBackward(dinp, dweight, dbias, dout, inp, weight, normed.mean!, normed.rstd, L, d);
  }
}

/** The transpose of trunk.ts scaleAndRotate: RoPE backward with the scale, or the scale alone. */
function scaleAndRotateBackward(
  config: ModelConfig,
  dinp: Float64Array, // (L, heads·E) +=
  dout: Float64Array, // (L, heads·E)
  rows: number,
  heads: number,
  headSize: number,
  start: number,
): void {
  const scale = headSize ** -0.25;
  if (config.positions === 'rope') {
    ropeBackward(dinp, dout, rows, heads, headSize, config.ropeBase, scale, start);
  } else for (let i = 0; i < dout.length; i++) dinp[i]! += scale * dout[i]!;
}

function backward(
  dims: Dims,
  config: ModelConfig,
  p: Params64,
  acts: Activations,
  omegas: Float64Array[],
): Params64 {
  const { d, h, kv, e, m, v, f } = dims;
  const dkv = kv * e;
  const L = acts.inputs.length;
  const shape = attentionShape(dims);
  const grads: Params64 = Object.fromEntries(
    Object.entries(p).map(([k, t]) => [k, new Float64Array(t.length)]),
  );
  const dbias = (name: string, present: boolean): Float64Array | null => (present ? grads[name]! : null);

  const dlogits = new Float64Array(L * v); // (L, V)
  crossEntropyBackward(dlogits, acts.probs, acts.targets, 1, L, v);
  const dlnf = new Float64Array(L * d); // (L, D)
  if (config.tiedHead) tiedHeadBackward(dlnf, grads.tok_emb!, dlogits, acts.lnf.out, p.tok_emb!, L, d, v);
  else matmulBackward(dlnf, grads.lm_head!, null, dlogits, acts.lnf.out, p.lm_head!, L, d, v);
  let dx = new Float64Array(L * d); // (L, D) gradient of the residual stream
  normBackward(config, p, grads, 'ln_f', dx, dlnf, acts.final, acts.lnf, d);
  for (let i = dims.n - 1; i >= 0; i--) {
    const b = acts.blocks[i]!;
    const favor = b.favor!;
    const name = (suffix: string): string => `blocks.${i}.${suffix}`;
    const w = (suffix: string): Float64Array => p[name(suffix)]!;
    const g = (suffix: string): Float64Array => grads[name(suffix)]!;

    // MLP branch; the residual passes dx straight through to dmid.
    const mlpBias = config.bias.mlp;
    const dmid = Float64Array.from(dx); // (L, D)
    const dact = new Float64Array(L * f); // (L, F)
    matmulBackward(dact, g('mlp.w2'), dbias(name('mlp.b2'), mlpBias), dx, b.act, w('mlp.w2'), L, f, d);
    const dpre = new Float64Array(L * f); // (L, F)
    const dln2 = new Float64Array(L * d); // (L, D) gets the up (and gate) projection's gradient
    if (config.mlp === 'swiglu') {
      const dgate = new Float64Array(L * f); // (L, F)
      swigluBackward(dgate, dpre, dact, b.gate!, b.pre, L * f);
      matmulBackward(
        dln2,
        g('mlp.wg'),
        dbias(name('mlp.bg'), mlpBias),
        dgate,
        b.ln2.out,
        w('mlp.wg'),
        L,
        d,
        f,
      );
    } else if (config.mlp === 'gelu-tanh') geluTanhBackward(dpre, dact, b.pre, L * f);
    else geluBackward(dpre, dact, b.pre, L * f);
    matmulBackward(dln2, g('mlp.w1'), dbias(name('mlp.b1'), mlpBias), dpre, b.ln2.out, w('mlp.w1'), L, d, f);
    normBackward(config, p, grads, name('ln2'), dmid, dln2, b.mid, b.ln2, d);

    // Attention branch; again the residual passes dmid straight through.
    const dinp = Float64Array.from(dmid); // (L, D)
    const dattn = new Float64Array(L * d); // (L, D)
    matmulBackward(
      dattn,
      g('attn.wo'),
      dbias(name('attn.bo'), config.bias.attnOut),
      dmid,
      b.attn,
      w('attn.wo'),
      L,
      d,
      d,
    );
    const dphiQ = new Float64Array(L * h * m); // (L, H, M)
    const dphiK = new Float64Array(L * kv * m); // (L, K, M)
    const dv = new Float64Array(L * dkv); // (L, K·E)
    causalLinearAttentionBackward(
      dphiQ,
      dphiK,
      dv,
      dattn,
      b.attn,
      favor.den,
      favor.phiQ,
      favor.phiK,
      b.v,
      L,
      shape,
    );
    const dq = new Float64Array(L * d); // (L, D) after RoPE
    const dk = new Float64Array(L * dkv); // (L, K·E)
    favorFeaturesBackward(dq, dphiQ, favor.phiQ, b.q, omegas[i]!, L, h, e, m);
    favorFeaturesBackward(dk, dphiK, favor.phiK, b.k, omegas[i]!, L, kv, e, m);
    const dqProj = new Float64Array(L * d); // (L, D) before scaling and RoPE
    const dkProj = new Float64Array(L * dkv); // (L, K·E)
    scaleAndRotateBackward(config, dqProj, dq, L, h, e, acts.start);
    scaleAndRotateBackward(config, dkProj, dk, L, kv, e, acts.start);
    const qkv = config.bias.qkv;
    const dln1 = new Float64Array(L * d); // (L, D) gets all three projections' gradients
    matmulBackward(dln1, g('attn.wq'), dbias(name('attn.bq'), qkv), dqProj, b.ln1.out, w('attn.wq'), L, d, d);
    matmulBackward(
      dln1,
      g('attn.wk'),
      dbias(name('attn.bk'), qkv),
      dkProj,
      b.ln1.out,
      w('attn.wk'),
      L,
      d,
      dkv,
    );
    matmulBackward(dln1, g('attn.wv'), dbias(name('attn.bv'), qkv), dv, b.ln1.out, w('attn.wv'), L, d, dkv);
    normBackward(config, p, grads, name('ln1'), dinp, dln1, b.inp, b.ln1, d);
    dx = dinp;
  }
  embeddingBackward(grads.tok_emb!, dx, acts.inputs, L, d);
  if (config.positions === 'learned') positionEmbeddingBackward(grads.pos_emb!, dx, acts.start, L, d);
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
  const omegas = features.map((layer) => Float64Array.from(layer.omega)); // (N) ω (M, E)
  return { dims: dimsOf(config), p: params64(config, params), omegas };
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
  const { omegas, features } = model;
  return trunkForward(model.dims, model.config, model.p, inputs, { kind: 'favor', omegas, features, carry })
    .logits;
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
