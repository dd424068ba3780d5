/**
 * Typed failures of decoding and sampling; each condition has its own class with a stable `name` and
 * `code`. Bad token ids, parameters or features are the shared engine-input errors (model/inputs.ts).
 */

export class InvalidDecoderOptionsError extends Error {
  override readonly name = 'InvalidDecoderOptionsError';
  readonly code = 'ERR_INVALID_DECODER_OPTIONS';
}

export class InvalidSampleOptionsError extends Error {
  override readonly name = 'InvalidSampleOptionsError';
  readonly code = 'ERR_INVALID_SAMPLE_OPTIONS';
}

/** generate() needs at least one prompt token: the model has no start-of-sequence id to begin from. */
export class EmptyPromptError extends Error {
  override readonly name = 'EmptyPromptError';
  readonly code = 'ERR_EMPTY_PROMPT';
  constructor() {
    super('the prompt must hold at least one token id');
  }
}

/** A decoder runs one sequence at a time; a call arrived while another (a generate) was still running. */
export class DecoderBusyError extends Error {
  override readonly name = 'DecoderBusyError';
  readonly code = 'ERR_DECODER_BUSY';
  constructor() {
    super('the decoder is busy with another call (one sequence at a time)');
  }
}

export class DecoderDisposedError extends Error {
  override readonly name = 'DecoderDisposedError';
  readonly code = 'ERR_DECODER_DISPOSED';
  constructor() {
    super('the decoder was disposed');
  }
}

/** Logits given to the sampler are not a finite vector of the vocabulary's length. */
export class InvalidLogitsError extends Error {
  override readonly name = 'InvalidLogitsError';
  readonly code = 'ERR_INVALID_LOGITS';
}

/**
 * An engine host asked to generate from a LoRA job whose base it does not keep: on wasm the base lives
 * only inside the training session, and a second copy for the decoder was judged too large to hold
 * (serveEngine's keepBaseBytes).
 */
export class GenerationUnavailableError extends Error {
  override readonly name = 'GenerationUnavailableError';
  readonly code = 'ERR_GENERATION_UNAVAILABLE';
}
