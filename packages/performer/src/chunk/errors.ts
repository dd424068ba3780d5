/**
 * Typed failures of the chunk engines; each condition has its own class with a stable `name`. Bad
 * tokens, parameters or features are the shared engine-input errors (model/inputs.ts).
 */

export class InvalidEngineOptionsError extends Error {
  override readonly name = 'InvalidEngineOptionsError';
}

export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
}

export class EngineDisposedError extends Error {
  override readonly name = 'EngineDisposedError';
}
