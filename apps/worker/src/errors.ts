/** One error class per condition a worker reports to its user, each with a stable `name`. */

export { InvalidOptionError } from '@slimswarm/node-compat/cli';
export { InvalidModelError, ModelConfigMissingError } from '@slimswarm/client';

/** `--data` names nothing readable, or only empty files. */
export class DataNotFoundError extends Error {
  static override name = 'DataNotFoundError';
  override name = 'DataNotFoundError';
}

/** The coordinator could not be reached or answered something that is not a valid job. */
export class JobUnavailableError extends Error {
  static override name = 'JobUnavailableError';
  override name = 'JobUnavailableError';
}

/** The checkpoint in --checkpoint-dir belongs to another job or model. */
export class IncompatibleCheckpointError extends Error {
  static override name = 'IncompatibleCheckpointError';
  override name = 'IncompatibleCheckpointError';
}

/** `--checkpoint` names nothing, or a folder that holds no model. */
export class ModelNotFoundError extends Error {
  static override name = 'ModelNotFoundError';
  override name = 'ModelNotFoundError';
}

/** A LoRA checkpoint holds adapters only: using it as a model needs its base (`--base <file>`). */
export class LoraBaseMissingError extends Error {
  static override name = 'LoraBaseMissingError';
  override name = 'LoraBaseMissingError';
}

/** `slimswarm-export --out` names a folder that exists, and --force was not given. */
export class ExportTargetExistsError extends Error {
  static override name = 'ExportTargetExistsError';
  override name = 'ExportTargetExistsError';
}
