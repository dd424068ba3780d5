/**
 * Exported model folders on disk (Node only: node:fs). Each file is written atomically (temporary file,
 * fsync, rename, directory fsync: writeFileAtomic), config.json last: it records every other file's
 * SHA-256, so a reader of a folder caught mid-rewrite gets an ExportHashMismatchError, never a silent mix.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import type { ModelConfig } from '../model/config.js';
import type { Params } from '../model/params.js';
import { ExportFileMissingError } from './errors.js';
import { exportModel, parseExportedModel } from './export.js';
import type { ExportOptions, ExportedFiles, ExportedModel } from './export.js';
import { EXPORT_FILES, EXPORT_TOKENIZER_CONFIG } from './format.js';
import type { ExportFileName } from './format.js';

/** Writes the model as an exported folder at `dir` (created if needed); returns the paths written. */
export async function writeExportedModel(
  dir: string,
  config: ModelConfig,
  params: Params,
  opts: ExportOptions = {},
): Promise<ExportedPaths> {
  return writeExportedFiles(dir, exportModel(config, params, opts));
}

/** The paths written, by file name. */
export type ExportedPaths = Record<ExportFileName, string> & { [EXPORT_TOKENIZER_CONFIG]?: string };

/** Writes already-exported files (exportModel's result) to `dir`, config.json last. */
export async function writeExportedFiles(dir: string, files: ExportedFiles): Promise<ExportedPaths> {
  const order: (ExportFileName | typeof EXPORT_TOKENIZER_CONFIG)[] = [
    EXPORT_FILES.weights,
    EXPORT_FILES.tokenizer,
  ];
  if (files[EXPORT_TOKENIZER_CONFIG] !== undefined) order.push(EXPORT_TOKENIZER_CONFIG);
  order.push(EXPORT_FILES.stepGraph, EXPORT_FILES.config);
  const paths = {} as ExportedPaths;
  for (const file of order) {
    paths[file] = join(dir, file);
    await writeFileAtomic(paths[file], files[file]!);
  }
  return paths;
}

/** Reads and checks an exported folder (parseExportedModel); a missing file is ExportFileMissingError. */
export async function readExportedModel(dir: string): Promise<ExportedModel> {
  const files: Partial<ExportedFiles> = {};
  // tokenizer_config.json is read when there; config.json says whether it must be.
  const names: (ExportFileName | typeof EXPORT_TOKENIZER_CONFIG)[] = [
    ...Object.values(EXPORT_FILES),
    EXPORT_TOKENIZER_CONFIG,
  ];
  for (const file of names) {
    try {
      files[file] = new Uint8Array(await readFile(join(dir, file)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (file !== EXPORT_TOKENIZER_CONFIG) throw new ExportFileMissingError(file, { cause: e });
    }
  }
  return parseExportedModel(files);
}
