/**
 * Why a Hugging Face model folder cannot be imported: one class per condition, each with a stable `name`
 * and `code` (js-libp2p style), all subclasses of HfImportError so callers can catch the family.
 */

export class HfImportError extends Error {
  override readonly name: string = 'HfImportError';
  readonly code: string = 'ERR_HF_IMPORT';
}

/** A file the folder needs (config.json, the weights, a shard the index names, tokenizer.json) is absent. */
export class MissingModelFileError extends HfImportError {
  override readonly name = 'MissingModelFileError';
  override readonly code = 'ERR_MISSING_MODEL_FILE';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** config.json (or tokenizer.json) is not JSON, or lacks or mistypes a key the import needs. */
export class InvalidConfigError extends HfImportError {
  override readonly name = 'InvalidConfigError';
  override readonly code = 'ERR_INVALID_CONFIG';
}

/** config.json names no architecture we import (`architectures` other than the three families). */
export class UnknownArchitectureError extends HfImportError {
  override readonly name = 'UnknownArchitectureError';
  override readonly code = 'ERR_UNKNOWN_ARCHITECTURE';
  constructor(readonly architectures: readonly string[]) {
    super(
      `architectures ${JSON.stringify(architectures)}: expected one of LlamaForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel`,
    );
  }
}

/** config.json sets an option that changes the model's math in a way our model cannot express. */
export class UnsupportedConfigError extends HfImportError {
  override readonly name = 'UnsupportedConfigError';
  override readonly code = 'ERR_UNSUPPORTED_CONFIG';
  constructor(
    readonly option: string,
    detail: string,
  ) {
    super(`config.json ${option}: ${detail}`);
  }
}

/** A parameter the architecture needs is in no weights file. */
export class MissingTensorError extends HfImportError {
  override readonly name = 'MissingTensorError';
  override readonly code = 'ERR_MISSING_TENSOR';
  constructor(readonly tensor: string) {
    super(`tensor ${tensor} is missing from the weights`);
  }
}

/**
 * The weights hold a tensor the architecture does not have. Refused rather than dropped: an extra tensor
 * means a model with more in it than config.json says (a q/k norm, a sink, another head), and importing
 * without it would silently give a different model.
 */
export class UnexpectedTensorError extends HfImportError {
  override readonly name = 'UnexpectedTensorError';
  override readonly code = 'ERR_UNEXPECTED_TENSOR';
  constructor(readonly tensor: string) {
    super(`tensor ${tensor} is not a parameter of this architecture`);
  }
}

export class TensorShapeError extends HfImportError {
  override readonly name = 'TensorShapeError';
  override readonly code = 'ERR_TENSOR_SHAPE';
  constructor(
    readonly tensor: string,
    readonly expected: readonly number[],
    readonly actual: readonly number[],
  ) {
    super(`tensor ${tensor} has shape [${actual.join(', ')}], config.json implies [${expected.join(', ')}]`);
  }
}

/** A tensor is stored in a dtype other than F32, F16 and BF16 (e.g. quantised or integer weights). */
export class UnsupportedDtypeError extends HfImportError {
  override readonly name = 'UnsupportedDtypeError';
  override readonly code = 'ERR_UNSUPPORTED_DTYPE';
  constructor(
    readonly tensor: string,
    readonly dtype: string,
  ) {
    super(`tensor ${tensor} is ${dtype}; only F32, F16 and BF16 are imported`);
  }
}

/** A weights file ends before the data its header describes. */
export class TruncatedWeightsError extends HfImportError {
  override readonly name = 'TruncatedWeightsError';
  override readonly code = 'ERR_TRUNCATED_WEIGHTS';
}

/**
 * A weights file is not valid safetensors: a header that is not JSON or does not match the schema, a
 * tensor whose byte range does not fit its dtype and shape, gaps, overlaps or bytes nothing indexes.
 */
export class MalformedWeightsError extends HfImportError {
  override readonly name = 'MalformedWeightsError';
  override readonly code = 'ERR_MALFORMED_WEIGHTS';
}

/** model.safetensors.index.json is invalid or disagrees with the shards it names. */
export class ShardIndexError extends HfImportError {
  override readonly name = 'ShardIndexError';
  override readonly code = 'ERR_SHARD_INDEX';
}

/** A weight is NaN or infinite: training would start from a broken model. */
export class NonFiniteWeightError extends HfImportError {
  override readonly name = 'NonFiniteWeightError';
  override readonly code = 'ERR_NON_FINITE_WEIGHT';
  constructor(readonly tensor: string) {
    super(`tensor ${tensor} holds a NaN or infinite value`);
  }
}

/** tokenizer.json is not a tokenizer (not JSON, no model), or yields ids the model's vocabulary lacks. */
export class InvalidTokenizerError extends HfImportError {
  override readonly name = 'InvalidTokenizerError';
  override readonly code = 'ERR_INVALID_TOKENIZER';
}
