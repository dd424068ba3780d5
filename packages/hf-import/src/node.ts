/**
 * @slimswarm/hf-import/node — imports a Hugging Face model folder from disk: config.json, the weights
 * (model.safetensors, or the shards model.safetensors.index.json names), tokenizer.json and, when
 * present, tokenizer_config.json. Weights are read tensor by tensor through file handles, never whole.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelConfig } from '@slimswarm/protocol';
import type { Params } from '@slimswarm/performer/weights';
import { modelFromHfConfig, type HfFamily, type ImportOptions } from './config.js';
import {
  InvalidConfigError,
  MissingModelFileError,
  ShardIndexError,
  TruncatedWeightsError,
} from './errors.js';
import { readSafetensorsHeader, type TensorEntry, type WeightsFile } from './safetensors-header.js';
import { tokenizerFiles, type TokenizerFiles } from './tokenizer.js';
import { importWeights, type ParamAllocator } from './weights.js';

export * from './index.js';

export const SINGLE_FILE = 'model.safetensors';
export const SHARD_INDEX = 'model.safetensors.index.json';

export interface ImportedModel {
  family: HfFamily;
  architecture: string;
  config: ModelConfig;
  params: Params;
  tokenizer: TokenizerFiles;
}

const ShardIndex = z
  .object({
    weight_map: z.record(
      z.string(),
      // A shard is a file of the folder itself, never a path out of it.
      z
        .string()
        .regex(/^[^/\\]+$/)
        .refine((s) => s !== '.' && s !== '..', 'a file name'),
    ),
  })
  .loose();

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

async function readFolderFile(dir: string, file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(join(dir, file)));
  } catch (e) {
    if (isMissing(e)) throw new MissingModelFileError(file, `not in ${dir}`);
    throw e;
  }
}

async function readOptional(dir: string, file: string): Promise<Uint8Array | undefined> {
  return readFolderFile(dir, file).catch((e: unknown) => {
    if (e instanceof MissingModelFileError) return undefined;
    throw e;
  });
}

function parseJsonFile(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new InvalidConfigError(`${file} is not UTF-8 JSON`);
  }
}

async function openWeights(dir: string, file: string, handles: FileHandle[]): Promise<WeightsFile> {
  let handle: FileHandle;
  try {
    handle = await open(join(dir, file), 'r');
  } catch (e) {
    if (isMissing(e)) throw new MissingModelFileError(file, `not in ${dir}`);
    throw e;
  }
  handles.push(handle);
  const { size } = await handle.stat();
  return {
    name: file,
    size,
    async read(into, position) {
      let done = 0;
      while (done < into.length) {
        const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
        // The file shrank after stat (it is being rewritten): the header no longer describes it.
        if (bytesRead === 0)
          throw new TruncatedWeightsError(`${file} ended at ${position + done} while reading`);
        done += bytesRead;
      }
    },
  };
}

/** Every tensor of the folder's weights, from model.safetensors or from the shards of the index. */
async function weightEntries(dir: string, handles: FileHandle[]): Promise<TensorEntry[]> {
  const index = await readOptional(dir, SHARD_INDEX);
  const single = index === undefined ? await openWeights(dir, SINGLE_FILE, handles) : undefined;
  if (single) return readSafetensorsHeader(single);
  const parsed = ShardIndex.safeParse(parseJsonFile(index!, SHARD_INDEX));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ShardIndexError(`${SHARD_INDEX} ${issue.path.join('.')}: ${issue.message}`);
  }
  const weightMap = parsed.data.weight_map;
  const entries: TensorEntry[] = [];
  for (const shard of [...new Set(Object.values(weightMap))].sort()) {
    for (const entry of await readSafetensorsHeader(await openWeights(dir, shard, handles))) {
      if (weightMap[entry.name] !== shard) {
        throw new ShardIndexError(
          `${shard} holds ${entry.name}, which ${SHARD_INDEX} places ${weightMap[entry.name] === undefined ? 'nowhere' : `in ${weightMap[entry.name]}`}`,
        );
      }
      entries.push(entry);
    }
  }
  const found = new Set(entries.map((e) => e.name));
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!found.has(name))
      throw new ShardIndexError(`${SHARD_INDEX} places ${name} in ${shard}, which lacks it`);
  }
  return entries;
}

/**
 * Imports the model folder `dir`: our config (FAVOR+ attention with `nFeatures` random features seeded
 * by `seed`), our params (in arrays from `allocate` when given), and the tokenizer files with their spec.
 * Nothing is written.
 */
export async function importHfFolder(
  dir: string,
  opts: ImportOptions & { allocate?: ParamAllocator },
): Promise<ImportedModel> {
  const model = modelFromHfConfig(
    parseJsonFile(await readFolderFile(dir, 'config.json'), 'config.json'),
    opts,
  );
  const tokenizer = tokenizerFiles(
    await readFolderFile(dir, 'tokenizer.json'),
    model.config.vocabSize,
    await readOptional(dir, 'tokenizer_config.json'),
  );
  const handles: FileHandle[] = [];
  try {
    const params = await importWeights(model, await weightEntries(dir, handles), opts.allocate);
    return { ...model, params, tokenizer };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}
