/**
 * What a gradient engine offers the trainer. The naive reference and the SLiM engine on onnxruntime-web
 * both implement it, so training code never knows which one runs.
 */
import type { LayerFeatures } from './features.js';
import type { Params } from './params.js';

export interface LossAndGrad {
  /** Mean cross-entropy over the L predictions of the sequence. */
  loss: number;
  /** ∂loss/∂θ for every parameter, same names and shapes as the params. */
  grads: Params;
}

export interface GradientEngine {
  /**
   * `tokens` holds L + 1 ids: inputs are tokens[0, L), targets tokens[1, L]. `features` is the ω of
   * every layer (drawFeatures), passed per call because the redraw policy may change it between steps.
   */
  lossAndGrad(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): Promise<LossAndGrad>;
  /** Forward only (evaluation): the same loss, without gradients. */
  loss(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): Promise<number>;
  dispose(): Promise<void>;
}
