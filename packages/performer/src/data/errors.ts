/** Data pipeline errors, one class per condition with a stable `name` and `code` (js-libp2p style). */

/** Options for the text source do not satisfy their schema. */
export class DataOptionsError extends Error {
  override readonly name = 'DataOptionsError';
  readonly code = 'ERR_DATA_OPTIONS';
}

/** A token id handed to the byte tokenizer is not an integer in [0, 256). */
export class InvalidTokenIdError extends Error {
  override readonly name = 'InvalidTokenIdError';
  readonly code = 'ERR_INVALID_TOKEN_ID';
  constructor(
    readonly index: number,
    readonly id: number,
  ) {
    super(`token id ${id} at position ${index} is not a byte`);
  }
}

/** Cycling was asked for, but a whole pass over the source gave no sequence (it holds ≤ L bytes). */
export class SourceTooShortError extends Error {
  override readonly name = 'SourceTooShortError';
  readonly code = 'ERR_SOURCE_TOO_SHORT';
  constructor(readonly seqLen: number) {
    super(`the text holds no sequence of ${seqLen} + 1 tokens, so it cannot be cycled`);
  }
}
