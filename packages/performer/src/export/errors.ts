/**
 * Typed failures of exporting and loading a model folder; each condition has its own class with a stable
 * `name` and `code`. Every loading failure extends InvalidExportError and names the file at fault.
 */

export class InvalidExportOptionsError extends Error {
  override readonly name = 'InvalidExportOptionsError';
  readonly code = 'ERR_INVALID_EXPORT_OPTIONS';
}

/** The folder cannot be loaded; `file` is the one at fault. */
export class InvalidExportError extends Error {
  override readonly name: string = 'InvalidExportError';
  readonly code: string = 'ERR_INVALID_EXPORT';
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** A file the folder must hold is not there. */
export class ExportFileMissingError extends InvalidExportError {
  override readonly name = 'ExportFileMissingError';
  override readonly code = 'ERR_EXPORT_FILE_MISSING';
  constructor(file: string, options?: ErrorOptions) {
    super(file, 'missing from the exported folder', options);
  }
}

/** A file is there but is not what the format says (bad JSON, schema, safetensors, shapes). */
export class ExportFileFormatError extends InvalidExportError {
  override readonly name = 'ExportFileFormatError';
  override readonly code = 'ERR_EXPORT_FILE_FORMAT';
}

/** A file's SHA-256 differs from the one config.json records (changed, or from another export). */
export class ExportHashMismatchError extends InvalidExportError {
  override readonly name = 'ExportHashMismatchError';
  override readonly code = 'ERR_EXPORT_HASH_MISMATCH';
  constructor(
    file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(file, `SHA-256 ${actual}, config.json records ${expected}`);
  }
}

/** The random features rebuilt from config.json's seed and epoch are not the ones the model was exported with. */
export class ExportFeatureMismatchError extends InvalidExportError {
  override readonly name = 'ExportFeatureMismatchError';
  override readonly code = 'ERR_EXPORT_FEATURE_MISMATCH';
}
