/**
 * Input errors of the gradient engines' boundary (tokens, parameters, features), one class per condition
 * with a stable `name` and `code` (js-libp2p style), so callers need not rely on `instanceof`.
 */

/** A training sequence needs at least two ids: one input and its target. */
export class SequenceTooShortError extends Error {
  override readonly name = 'SequenceTooShortError';
  readonly code = 'ERR_SEQUENCE_TOO_SHORT';
  constructor(readonly length: number) {
    super(`a sequence needs at least 2 token ids (L + 1), got ${length}`);
  }
}

/** A token id is not an integer in [0, vocabSize). */
export class TokenOutOfRangeError extends Error {
  override readonly name = 'TokenOutOfRangeError';
  readonly code = 'ERR_TOKEN_OUT_OF_RANGE';
  constructor(
    readonly index: number,
    readonly token: number,
    readonly vocabSize: number,
  ) {
    super(`token ${token} at position ${index} is outside the vocabulary [0, ${vocabSize})`);
  }
}

/** A parameter tensor is missing or has the wrong number of elements for the model config. */
export class ParamShapeError extends Error {
  override readonly name = 'ParamShapeError';
  readonly code = 'ERR_PARAM_SHAPE';
  constructor(
    readonly param: string,
    readonly expected: number,
    readonly actual: number | undefined,
  ) {
    super(
      actual === undefined
        ? `parameter ${param} is missing`
        : `parameter ${param} has ${actual} elements, the config needs ${expected}`,
    );
  }
}

/** The random features do not match the config (one [M, E] ω per layer). */
export class FeatureShapeError extends Error {
  override readonly name = 'FeatureShapeError';
  readonly code = 'ERR_FEATURE_SHAPE';
}
