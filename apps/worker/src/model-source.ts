/**
 * Where `slimswarm-generate` and `slimswarm-export` take the model from:
 *
 * - `--coordinator <url>`: the swarm's current shared model (@slimswarm/client's fetchSharedModel) through
 *   a Node peer that never trains (role 'dashboard', so no round ever waits for it);
 * - `--checkpoint <file|dir>`: a worker's saved state (`trainer.safetensors`, or the --checkpoint-dir that
 *   holds it), a folder slimswarm-export wrote (read back and checked by the performer), or a weights-only
 *   file such as the base a coordinator serves, with `--config` to say which model (client's model-file.ts).
 *   A LoRA checkpoint holds adapters and its base's hash; `--base` gives the base to merge them into
 *   (mergedModel), which generating needs and `slimswarm-export --merged` writes.
 *
 * The tokenizer comes with the model: the job's (verified against its manifest) from a coordinator, the
 * one an export folder holds, and for a checkpoint file `--tokenizer` (a Hugging Face tokenizer.json, with
 * `--tokenizer-config`) or else the byte tokenizer — a checkpoint does not record its job's tokenizer.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fetchSharedModel,
  mergeLoraModel,
  modelConfigOf,
  readModelFile,
  weightsSha256,
  type ModelWeights,
  type TicketGrant,
} from '@slimswarm/client';
import {
  ByteTokenizer,
  EXPORT_FILES,
  HfTokenizer,
  fitModel,
  paramCount,
  type ModelConfig,
  type Tokenizer,
} from '@slimswarm/performer';
import { readExportedModel } from '@slimswarm/performer/node';
import { createNodePeer, dialableBy } from '@slimswarm/swarm';
import {
  InvalidModelError,
  LoraBaseMissingError,
  ModelConfigMissingError,
  ModelNotFoundError,
} from './errors.js';

export interface LoadedModel extends ModelWeights {
  /** Where it came from, in words, for the user. */
  origin: string;
  /** Encodes prompts and decodes generated ids; an export writes it. */
  tokenizer: Tokenizer;
}

/** A Hugging Face tokenizer's files, for a checkpoint (which does not name its tokenizer). */
export interface TokenizerPaths {
  tokenizer: string;
  config?: string;
}

export type ModelSource =
  | { kind: 'checkpoint'; path: string; config?: string; base?: string; tokenizer?: TokenizerPaths }
  | {
      kind: 'coordinator';
      url: string;
      jobKey?: string;
      invite?: string;
      ticket?: TicketGrant['ticket'];
      signal?: AbortSignal;
    };

/** What a worker's --checkpoint-dir holds (store.ts), and what an export folder holds. */
const WORKER_CHECKPOINT = 'trainer.safetensors';
const EXPORT_WEIGHTS = EXPORT_FILES.weights;

export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  if (source.kind === 'coordinator') return fromSwarm(source);
  const model = await fromCheckpoint(source.path, source.config);
  if (source.tokenizer === undefined) return model;
  return { ...model, tokenizer: fitModel(await readTokenizer(source.tokenizer), model.config.vocabSize) };
}

async function readTokenizer(paths: TokenizerPaths): Promise<HfTokenizer> {
  const read = async (flag: string, path: string) => {
    try {
      return new Uint8Array(await readFile(path));
    } catch (e) {
      throw new ModelNotFoundError(`${flag} ${path}: ${(e as Error).message}`);
    }
  };
  const tokenizer = await read('--tokenizer', paths.tokenizer);
  if (paths.config === undefined) return new HfTokenizer({ tokenizer });
  return new HfTokenizer({ tokenizer, config: await read('--tokenizer-config', paths.config) });
}

async function fromSwarm(source: Extract<ModelSource, { kind: 'coordinator' }>): Promise<LoadedModel> {
  const shared = await fetchSharedModel({
    coordinator: source.url,
    canDial: dialableBy('node'),
    createPeer: (_listing, bootstrap) =>
      createNodePeer({ role: 'dashboard', bootstrap, gossip: { ipColocationFactorWeight: 0 } }),
    ...(source.jobKey !== undefined ? { jobKey: source.jobKey } : {}),
    ...(source.invite !== undefined ? { invite: source.invite } : {}),
    ...(source.ticket ? { ticket: source.ticket } : {}),
    ...(source.signal ? { signal: source.signal } : {}),
  });
  const from = shared.source === 'peers' ? 'replayed from peers' : 'nobody announced a model: the base';
  return {
    config: shared.manifest.model,
    params: shared.params,
    featureEpoch: 0,
    step: null,
    modelSha256: shared.modelSha256,
    origin: `${shared.manifest.jobId} round ${shared.round} (${from})`,
    tokenizer: shared.tokenizer,
  };
}

async function fromCheckpoint(path: string, configPath?: string): Promise<LoadedModel> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new ModelNotFoundError(`--checkpoint ${path}: no such file or directory`);
  if (!info.isDirectory()) return fromFile(path, configPath);
  const worker = join(path, WORKER_CHECKPOINT);
  if (await stat(worker).catch(() => null)) return fromFile(worker, configPath);
  if (await stat(join(path, EXPORT_WEIGHTS)).catch(() => null)) return fromExport(path);
  throw new ModelNotFoundError(
    `--checkpoint ${path}: holds neither ${WORKER_CHECKPOINT} (a worker's state) nor ${EXPORT_WEIGHTS} (an export)`,
  );
}

/** An export folder, read and checked whole by the performer (hashes, shapes, ω). */
async function fromExport(dir: string): Promise<LoadedModel> {
  const { config, params, featureEpoch, tokenizer } = await readExportedModel(dir);
  return {
    tokenizer,
    config,
    params,
    featureEpoch,
    step: null,
    modelSha256: weightsSha256(config, params),
    origin: dir,
  };
}

async function fromFile(path: string, configPath?: string): Promise<LoadedModel> {
  const bytes = new Uint8Array(await readFile(path));
  const config = configPath !== undefined ? await readConfig(configPath) : undefined;
  let weights: ModelWeights;
  try {
    weights = readModelFile(bytes, config);
  } catch (e) {
    const err = e as Error;
    if (err.name === 'ModelConfigMissingError')
      throw new ModelConfigMissingError(
        `${path} holds weights only: give --config (a model config, a job manifest or the /api/job listing)`,
      );
    if (err.name === 'InvalidModelError') throw new InvalidModelError(`${path}: ${err.message}`);
    throw e;
  }
  return {
    ...weights,
    origin: weights.step === null ? path : `${path} (step ${weights.step})`,
    tokenizer: new ByteTokenizer(),
  };
}

async function readConfig(path: string): Promise<ModelConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ModelConfigMissingError(`--config ${path}: ${(e as Error).message}`);
  }
  try {
    return modelConfigOf(json);
  } catch (e) {
    throw new InvalidModelError(`--config ${path}: ${(e as Error).message}`);
  }
}

/** The full weights of a LoRA checkpoint (its adapters merged into `basePath`); any other model as it is. */
export async function mergedModel(model: LoadedModel, basePath: string | undefined): Promise<LoadedModel> {
  if (!model.lora) return model;
  if (basePath === undefined)
    throw new LoraBaseMissingError(
      `${model.origin} holds LoRA adapters only: give --base <file>, the base checkpoint ${model.lora.baseSha256.slice(0, 12)}…`,
    );
  const base = await readFile(basePath).catch(() => {
    throw new ModelNotFoundError(`--base ${basePath}: no such file`);
  });
  return {
    ...mergeLoraModel(model, new Uint8Array(base)),
    origin: `${model.origin} merged into ${basePath}`,
    tokenizer: model.tokenizer,
  };
}

/** One line about the model, for the user. */
export function describeModel(model: LoadedModel): string {
  const params = paramCount(model.config).toLocaleString('en');
  return `${model.origin} · ${params} parameters · model ${model.modelSha256.slice(0, 12)}`;
}
