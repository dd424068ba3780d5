/** Typed failures of the chunk engines; each condition has its own class with a stable `name`. */

export class InvalidEngineOptionsError extends Error {
  override readonly name = 'InvalidEngineOptionsError';
}

export class InvalidTokensError extends Error {
  override readonly name = 'InvalidTokensError';
}

export class InvalidParamsError extends Error {
  override readonly name = 'InvalidParamsError';
}

export class InvalidFeaturesError extends Error {
  override readonly name = 'InvalidFeaturesError';
}

export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
}

export class EngineDisposedError extends Error {
  override readonly name = 'EngineDisposedError';
}
