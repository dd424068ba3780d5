/** Data pipeline errors, one class per condition with a stable `name` and `code` (js-libp2p style). */

/** Options for the text source do not satisfy their schema. */
export class DataOptionsError extends Error {
  override readonly name = 'DataOptionsError';
  readonly code = 'ERR_DATA_OPTIONS';
}

/** A token id handed to a tokenizer's decode is not an integer id of its vocabulary. */
export class InvalidTokenIdError extends Error {
  override readonly name = 'InvalidTokenIdError';
  readonly code = 'ERR_INVALID_TOKEN_ID';
  constructor(
    readonly index: number,
    readonly id: number,
  ) {
    super(`token id ${id} at position ${index} is not in the tokenizer's vocabulary`);
  }
}

/** Cycling was asked for, but a whole pass over the source gave no sequence (it holds ≤ L tokens). */
export class SourceTooShortError extends Error {
  override readonly name = 'SourceTooShortError';
  readonly code = 'ERR_SOURCE_TOO_SHORT';
  constructor(readonly seqLen: number) {
    super(`the text holds no sequence of ${seqLen} + 1 tokens, so it cannot be cycled`);
  }
}

/** The job's tokenizer spec names a file that was not handed over. */
export class TokenizerFileMissingError extends Error {
  override readonly name = 'TokenizerFileMissingError';
  readonly code = 'ERR_TOKENIZER_FILE_MISSING';
  constructor(readonly file: 'tokenizer' | 'config') {
    super(`the job's tokenizer names a ${file} file, and none was given`);
  }
}

/** A tokenizer file's size or SHA-256 is not what the job's signed spec names. */
export class TokenizerFileMismatchError extends Error {
  override readonly name = 'TokenizerFileMismatchError';
  readonly code = 'ERR_TOKENIZER_FILE_MISMATCH';
  constructor(
    readonly file: 'tokenizer' | 'config',
    readonly expected: { sha256: string; bytes: number },
    readonly actual: { sha256: string; bytes: number },
  ) {
    super(
      `the ${file} file is ${actual.bytes} bytes with SHA-256 ${actual.sha256}; ` +
        `the job names ${expected.bytes} bytes with SHA-256 ${expected.sha256}`,
    );
  }
}

/** tokenizer.json (or tokenizer_config.json) is not JSON, not a tokenizer, or of a kind the library lacks. */
export class TokenizerFormatError extends Error {
  override readonly name = 'TokenizerFormatError';
  readonly code = 'ERR_TOKENIZER_FORMAT';
}

/** The tokenizer has ids the model has no embedding row for. */
export class TokenizerVocabularyError extends Error {
  override readonly name = 'TokenizerVocabularyError';
  readonly code = 'ERR_TOKENIZER_VOCABULARY';
  constructor(
    readonly tokenizerVocabSize: number,
    readonly modelVocabSize: number,
  ) {
    super(`the tokenizer has ${tokenizerVocabSize} ids, the model's vocabulary only ${modelVocabSize}`);
  }
}

/** Text holds a piece the tokenizer has no token for and no unknown token to stand in. */
export class UnencodableTextError extends Error {
  override readonly name = 'UnencodableTextError';
  readonly code = 'ERR_UNENCODABLE_TEXT';
}
