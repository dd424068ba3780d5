/**
 * The inputs every GradientEngine takes (token ids, parameters, random features), checked once for all
 * engines. Errors: one class per condition with a stable `name` and `code`; the three broad classes let
 * callers catch "bad tokens", "bad parameters" or "bad features" whatever the precise condition.
 */
import { dimsOf } from './config.js';
import type { ModelConfig } from './config.js';
import type { LayerFeatures } from './features.js';
import { paramShapes } from './params.js';

export class InvalidTokensError extends Error {
  override readonly name: string = 'InvalidTokensError';
  readonly code: string = 'ERR_INVALID_TOKENS';
}

export class InvalidParamsError extends Error {
  override readonly name: string = 'InvalidParamsError';
  readonly code: string = 'ERR_INVALID_PARAMS';
}

export class InvalidFeaturesError extends Error {
  override readonly name: string = 'InvalidFeaturesError';
  readonly code: string = 'ERR_INVALID_FEATURES';
}

/** A training sequence needs at least two ids: one input and its target. */
export class SequenceTooShortError extends InvalidTokensError {
  override readonly name = 'SequenceTooShortError';
  override readonly code = 'ERR_SEQUENCE_TOO_SHORT';
  constructor(readonly length: number) {
    super(`a sequence needs at least 2 token ids (L + 1), got ${length}`);
  }
}

/** A token id is not an integer in [0, vocabSize). */
export class TokenOutOfRangeError extends InvalidTokensError {
  override readonly name = 'TokenOutOfRangeError';
  override readonly code = 'ERR_TOKEN_OUT_OF_RANGE';
  constructor(
    readonly index: number,
    readonly token: number,
    readonly vocabSize: number,
  ) {
    super(`token ${token} at position ${index} is outside the vocabulary [0, ${vocabSize})`);
  }
}

/**
 * A token would sit at an absolute position the model has no learned position embedding for: a
 * sequence (or a decoder's context) of a learned-positions model may be at most maxPositions long.
 */
export class PositionOutOfRangeError extends InvalidTokensError {
  override readonly name = 'PositionOutOfRangeError';
  override readonly code = 'ERR_POSITION_OUT_OF_RANGE';
  constructor(
    readonly position: number,
    readonly maxPositions: number,
  ) {
    super(`position ${position} is past the model's ${maxPositions} learned positions`);
  }
}

/** A parameter tensor is missing or has the wrong number of elements for the model config. */
export class ParamShapeError extends InvalidParamsError {
  override readonly name = 'ParamShapeError';
  override readonly code = 'ERR_PARAM_SHAPE';
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
export class FeatureShapeError extends InvalidFeaturesError {
  override readonly name = 'FeatureShapeError';
  override readonly code = 'ERR_FEATURE_SHAPE';
}

/** Throws the typed error for the first thing about the inputs that does not fit the config. */
export function checkEngineInputs(
  config: ModelConfig,
  params: Readonly<Record<string, ArrayLike<number>>>,
  tokens: Int32Array,
  features: readonly LayerFeatures[],
  /** The tensors `params` must hold: every parameter, or a LoRA engine's trainable adapters. */
  shapes: Readonly<Record<string, readonly number[]>> = paramShapes(config),
): void {
  if (!(tokens instanceof Int32Array))
    throw new InvalidTokensError('tokens must be an Int32Array (L + 1 ids)');
  if (tokens.length < 2) throw new SequenceTooShortError(tokens.length);
  checkTokenIds(config, tokens);
  checkPositions(config, 0, tokens.length - 1);
  checkModelInputs(config, params, features, shapes);
}

/** Every id is an integer in [0, vocabSize) (any length, the empty array included). */
export function checkTokenIds(config: ModelConfig, tokens: Int32Array): void {
  if (!(tokens instanceof Int32Array)) throw new InvalidTokensError('token ids must be an Int32Array');
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i]!;
    if (id < 0 || id >= config.vocabSize) throw new TokenOutOfRangeError(i, id, config.vocabSize);
  }
}

/** Tokens at absolute positions start, …, start + count − 1 have a position embedding (learned positions). */
export function checkPositions(config: ModelConfig, start: number, count: number): void {
  const max = config.maxPositions;
  if (config.positions === 'learned' && start + count > max!) {
    throw new PositionOutOfRangeError(Math.max(start, max!), max!);
  }
}

/** Every parameter the config names (or every tensor `shapes` names) is there with its number of elements. */
export function checkParams(
  config: ModelConfig,
  params: Readonly<Record<string, ArrayLike<number>>>,
  shapes: Readonly<Record<string, readonly number[]>> = paramShapes(config),
): void {
  for (const [name, shape] of Object.entries(shapes)) {
    const expected = shape.reduce((a, b) => a * b, 1);
    const actual = params[name]?.length;
    if (actual !== expected) throw new ParamShapeError(name, expected, actual);
  }
}

/** The parameters and random features fit the config (what every engine and decoder needs). */
export function checkModelInputs(
  config: ModelConfig,
  params: Readonly<Record<string, ArrayLike<number>>>,
  features: readonly LayerFeatures[],
  /** The tensors `params` must hold: every parameter, or a LoRA engine's trainable adapters. */
  shapes: Readonly<Record<string, readonly number[]>> = paramShapes(config),
): void {
  checkParams(config, params, shapes);
  const { e, m, n } = dimsOf(config);
  if (features.length !== n) {
    throw new FeatureShapeError(`expected random features for ${n} layers, got ${features.length}`);
  }
  features.forEach((f, layer) => {
    if (f.omega.length !== m * e || !Number.isFinite(f.keyStabiliser)) {
      throw new FeatureShapeError(`layer ${layer}: ω must be [${m}, ${e}] with a finite key stabiliser`);
    }
  });
}
