/**
 * `slimswarm-export`: writes a slimswarm model — the swarm's current shared model (`--coordinator`) or a
 * checkpoint — as the performer's self-contained export folder (model.safetensors, config.json,
 * tokenizer.json, decoder_step.onnx). The folder is written whole or not at all (node-compat's
 * writeDirAtomic around performer's writer), and an existing one is replaced only with --force. A command
 * of its own rather than `slimswarm-generate --export`: exporting samples nothing, and none of generate's
 * sampling flags would mean anything to it.
 *
 * A LoRA checkpoint exports as adapters.safetensors (its adapters, the base's SHA-256 and the LoRA config,
 * without optimiser moments), or with --merged and --base as the full folder of merged weights.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { writeDirAtomic } from '@slimswarm/node-compat/fs';
import { encodeCheckpoint, paramCount } from '@slimswarm/performer';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeExportedModel } from '@slimswarm/performer/node';
import { ExportTargetExistsError, InvalidOptionError } from './errors.js';
import { parseExportArgs, type ExportOptions } from './export-options.js';
import { EXIT } from './exit-codes.js';
import { modelSourceOf } from './model-flags.js';
import { describeModel, loadModel, mergedModel } from './model-source.js';

/** What a LoRA export without --merged writes. */
export const ADAPTERS_FILE = 'adapters.safetensors';

export interface Exported {
  dir: string;
  files: string[];
  origin: string;
  modelSha256: string;
  params: number;
}

export async function runExport(options: ExportOptions, signal: AbortSignal): Promise<Exported> {
  const dir = resolve(options.out);
  // Checked before the model is fetched: a typo should not cost a swarm join.
  if (!options.force && (await stat(dir).catch(() => null)))
    throw new ExportTargetExistsError(`${dir} exists: give --force to replace it`);
  const loaded = await loadModel(await modelSourceOf(options, signal));
  if (options.merged && !loaded.lora)
    throw new InvalidOptionError(
      '--merged: the model is not a LoRA checkpoint, its weights are full already',
    );
  const model = options.merged ? await mergedModel(loaded, options.base) : loaded;
  let written: Record<string, string> = {};
  await writeDirAtomic(dir, async (temp) => {
    if (model.lora) {
      const { config, params, featureEpoch, lora } = model;
      const bytes = encodeCheckpoint({ config, params, step: model.step ?? 0, featureEpoch, lora });
      await writeFile(join(temp, ADAPTERS_FILE), bytes);
      written = { [ADAPTERS_FILE]: join(temp, ADAPTERS_FILE) };
      return;
    }
    written = await writeExportedModel(temp, model.config, model.params, {
      featureEpoch: model.featureEpoch,
      description: describeModel(model),
      tokenizer: model.tokenizer,
    });
  });
  return {
    dir,
    files: Object.keys(written).sort(),
    origin: model.origin,
    modelSha256: model.modelSha256,
    params: paramCount(model.config),
  };
}

/** Parses argv, runs, and maps every failure to a printed error and an exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let options: ExportOptions;
  try {
    options = parseExportArgs(argv);
  } catch (e) {
    if (isHelpExit(e)) return EXIT.ok;
    process.stderr.write(`slimswarm-export: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const done = await runExport(options, controller.signal);
    process.stdout.write(
      options.json
        ? JSON.stringify({ event: 'exported', ...done }) + '\n'
        : `exported ${done.origin} (${done.params.toLocaleString('en')} parameters, model ${done.modelSha256.slice(0, 12)})\n` +
            `to ${done.dir}: ${done.files.join(', ')}\n`,
    );
    return EXIT.ok;
  } catch (e) {
    if (controller.signal.aborted) return EXIT.interrupted;
    const err = e as Error;
    process.stderr.write(`slimswarm-export: ${err.name}: ${err.message}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
