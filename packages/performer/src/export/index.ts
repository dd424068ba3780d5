export { exportModel, parseExportedModel, ExportOptions } from './export.js';
export type { ExportedFiles, ExportedModel } from './export.js';
export { EXPORT_FILES, EXPORT_FORMAT, EXPORT_VERSION, ExportConfigJson, TokenizerJson } from './format.js';
export type { ExportFileName } from './format.js';
export {
  ExportFeatureMismatchError,
  ExportFileFormatError,
  ExportFileMissingError,
  ExportHashMismatchError,
  InvalidExportError,
  InvalidExportOptionsError,
} from './errors.js';
