/**
 * LoRA gradients in the fp64 reference: the adapted model is the plain model with the effective weights
 * W + s · A B (computed in fp64), so the reference differentiates it through the normal path and projects
 * each dW onto the factors, dA = s · dW Bᵀ and dB = s · Aᵀ dW. Nothing here knows about chunks: this is
 * what the SLiM engine's adapter gradients are checked against.
 */
import type { ModelConfig } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import { checkParams } from '../model/inputs.js';
import {
  adaptedMatrices,
  frozenShapes,
  loraScale,
  trainableShapes,
  withLowRankUpdates,
} from '../model/lora.js';
import type { LoraFrozen } from '../model/lora.js';
import type { Params } from '../model/params.js';
import type { NaiveLossAndGrad, Params64 } from './model.js';
import { naiveLoss, naiveLossAndGrad } from './model.js';

function effective(
  config: ModelConfig,
  { lora, frozen }: LoraFrozen,
  trainable: Params | Params64,
): Params64 {
  checkParams(config, frozen, frozenShapes(config, lora));
  checkParams(config, trainable, trainableShapes(config, lora));
  const tensors = { ...frozen, ...trainable };
  const p: Params64 = {};
  for (const [name, value] of Object.entries(frozen)) p[name] = Float64Array.from(value);
  return { ...p, ...withLowRankUpdates(config, lora, tensors, (n) => new Float64Array(n)) };
}

/**
 * Loss and ∂loss/∂(trainable adapters) in fp64; `trainable` holds trainableShapes(config, lora) (fp64
 * accepted, for finite differences).
 */
export function naiveLoraLossAndGrad(
  config: ModelConfig,
  model: LoraFrozen,
  trainable: Params | Params64,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
): NaiveLossAndGrad {
  const { lora } = model;
  const tensors = { ...model.frozen, ...trainable };
  const { loss, grads: full } = naiveLossAndGrad(
    config,
    effective(config, model, trainable),
    tokens,
    features,
  );
  const s = loraScale(lora);
  const r = lora.rank;
  const grads: Params64 = {};
  for (const m of adaptedMatrices(config, lora)) {
    const dw = full[m.name]!; // [in, out]
    const a = tensors[m.a]!; // [in, r]
    const b = tensors[m.b]!; // [r, out]
    const db = new Float64Array(r * m.out);
    for (let i = 0; i < m.in; i++) {
      for (let k = 0; k < r; k++) {
        const aik = s * a[i * r + k]!;
        for (let j = 0; j < m.out; j++) db[k * m.out + j]! += aik * dw[i * m.out + j]!;
      }
    }
    grads[m.b] = db;
    if (lora.factors === 'ab') {
      const da = new Float64Array(m.in * r);
      for (let i = 0; i < m.in; i++) {
        for (let k = 0; k < r; k++) {
          let sum = 0;
          for (let j = 0; j < m.out; j++) sum += dw[i * m.out + j]! * b[k * m.out + j]!;
          da[i * r + k] = s * sum;
        }
      }
      grads[m.a] = da;
    }
  }
  return { loss, grads };
}

export function naiveLoraLoss(
  config: ModelConfig,
  model: LoraFrozen,
  trainable: Params | Params64,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
): number {
  return naiveLoss(config, effective(config, model, trainable), tokens, features);
}
