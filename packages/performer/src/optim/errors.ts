/** Optimiser errors, one class per condition with a stable `name` and `code` (js-libp2p style). */

/** The inner-optimiser hyperparameters do not satisfy the protocol's `InnerOptimizer` schema. */
export class OptimizerConfigError extends Error {
  override readonly name = 'OptimizerConfigError';
  readonly code = 'ERR_OPTIMIZER_CONFIG';
}

/** Gradients (or restored optimiser state) do not have the parameters' names and sizes. */
export class GradientShapeError extends Error {
  override readonly name = 'GradientShapeError';
  readonly code = 'ERR_GRADIENT_SHAPE';
}

/** The gradient holds NaN or ±Infinity; the step was refused and nothing was changed. */
export class NonFiniteGradientError extends Error {
  override readonly name = 'NonFiniteGradientError';
  readonly code = 'ERR_NON_FINITE_GRADIENT';
  constructor(readonly norm: number) {
    super(`gradient norm is ${norm}; the step was skipped`);
  }
}
