/**
 * The naive reference behind the `GradientEngine` interface, so the trainer can run on it (small models,
 * tests) exactly as it runs on the onnxruntime-web SLiM engine. Gradients come back as float32. With
 * `lora` the params it is called with are the trainable adapters and the base stays frozen.
 */
import type { ModelConfig } from '../model/config.js';
import type { GradientEngine } from '../model/engine.js';
import type { Params } from '../model/params.js';
import type { LoraFrozen } from '../model/lora.js';
import { naiveLoraLoss, naiveLoraLossAndGrad } from './lora.js';
import { naiveLoss, naiveLossAndGrad } from './model.js';

export function createNaiveEngine(config: ModelConfig, lora?: LoraFrozen): GradientEngine {
  return {
    lossAndGrad(params, tokens, features) {
      return Promise.resolve().then(() => {
        const { loss, grads } = lora
          ? naiveLoraLossAndGrad(config, lora, params, tokens, features)
          : naiveLossAndGrad(config, params, tokens, features);
        const grads32: Params = {};
        for (const [name, g] of Object.entries(grads)) grads32[name] = Float32Array.from(g);
        return { loss, grads: grads32 };
      });
    },
    loss(params, tokens, features) {
      return Promise.resolve().then(() =>
        lora
          ? naiveLoraLoss(config, lora, params, tokens, features)
          : naiveLoss(config, params, tokens, features),
      );
    },
    dispose() {
      return Promise.resolve();
    },
  };
}
