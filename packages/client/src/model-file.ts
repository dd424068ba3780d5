/**
 * Model files a person may hold, read into one shape (the weights, their config, their hash): a trainer
 * checkpoint (performer's format, which names its model and feature epoch in its metadata) or a
 * weights-only file such as the base a coordinator serves, which names no model: a config says which —
 * a model config itself, anything with a `model` (a job manifest, an export's config.json), a signed job
 * or the listing `/api/job` serves.
 */
import {
  CHECKPOINT_FORMAT,
  decodeCheckpoint,
  loraFrozen,
  mergeAdapters,
  trainableShapes,
  type LoraSpec,
  type Params,
} from '@slimswarm/performer';
import {
  ModelConfig,
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  isProtocolError,
  sha256Hex,
} from '@slimswarm/protocol';
import { z } from 'zod';
import { BaseHashMismatchError, weightsFromSafetensors } from './fetch-job.js';

/** Not a model file, or weights that do not fit the config, or a config file that names no model. */
export class InvalidModelError extends Error {
  static override name = 'InvalidModelError';
  override name = 'InvalidModelError';
}

/** A weights-only file and no config to say which model it is. */
export class ModelConfigMissingError extends Error {
  static override name = 'ModelConfigMissingError';
  override name = 'ModelConfigMissingError';
}

export interface ModelWeights {
  config: ModelConfig;
  params: Params;
  /** Redraw epoch of the random features that go with the weights (0 unless a checkpoint says). */
  featureEpoch: number;
  /** The swarm's model hash of the weights (SHA-256 of their canonical safetensors): comparable across sources. */
  modelSha256: string;
  /** Training steps behind a trainer checkpoint; null for weights only. */
  step: number | null;
  /** A LoRA checkpoint's: `params` are then its adapters on the base with this hash (mergeLoraModel). */
  lora?: LoraSpec;
}

/** The swarm's model hash of `params` (as every replica and the base checkpoint compute it). */
export function weightsSha256(config: ModelConfig, params: Params, lora?: LoraSpec): string {
  const shapes = trainableShapes(config, lora?.config);
  return sha256Hex(
    encodeSafetensors(
      Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, f32Tensor(s, params[n]!)])),
    ),
  );
}

/**
 * Reads a model file. `config` (parsed by modelConfigOf) is needed for weights only; a trainer checkpoint
 * names its own. Throws InvalidModelError, ModelConfigMissingError or performer's CheckpointFormatError.
 */
export function readModelFile(bytes: Uint8Array, config?: ModelConfig): ModelWeights {
  let metadata: Record<string, string>;
  try {
    metadata = decodeSafetensors(bytes).metadata;
  } catch (e) {
    if (isProtocolError(e)) throw new InvalidModelError(`not a safetensors file: ${e.message}`);
    throw e;
  }
  if (metadata.format === CHECKPOINT_FORMAT) {
    const ckpt = decodeCheckpoint(bytes);
    const { params, featureEpoch, step, lora } = ckpt;
    return {
      config: ckpt.config,
      params,
      featureEpoch,
      step,
      modelSha256: weightsSha256(ckpt.config, params, lora),
      ...(lora ? { lora } : {}),
    };
  }
  if (!config)
    throw new ModelConfigMissingError(
      'the file holds weights only and names no model: a config must say which',
    );
  const params = weightsFromSafetensors(bytes);
  const shapes = trainableShapes(config);
  for (const [name, shape] of Object.entries(shapes)) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (params[name]?.length !== size)
      throw new InvalidModelError(`tensor ${name} must have ${size} values for this config`);
  }
  const extra = Object.keys(params).find((name) => shapes[name] === undefined);
  if (extra !== undefined) throw new InvalidModelError(`tensor ${extra} is not part of this model`);
  return { config, params, featureEpoch: 0, step: null, modelSha256: weightsSha256(config, params) };
}

/**
 * A LoRA model's full weights, W + s·A·B, from its adapters and the base checkpoint's bytes (which must
 * be the base the adapters name: BaseHashMismatchError otherwise). Not LoRA: returned as it is.
 */
export function mergeLoraModel(weights: ModelWeights, base: Uint8Array): ModelWeights {
  const { lora, ...rest } = weights;
  if (!lora) return weights;
  const sha = sha256Hex(base);
  if (sha !== lora.baseSha256)
    throw new BaseHashMismatchError(
      `the base file hashes to ${sha}, the adapters were trained on ${lora.baseSha256}`,
    );
  const baseWeights = readModelFile(base, weights.config).params;
  const frozen = loraFrozen(weights.config, lora.config, baseWeights);
  const params = mergeAdapters(weights.config, lora.config, { ...frozen, ...weights.params });
  return { ...rest, params, modelSha256: weightsSha256(weights.config, params) };
}

const WithModel = z.object({ model: ModelConfig }).loose();

/** The forms a config file takes (see the top of this file). */
const ConfigFile = z.union([
  ModelConfig,
  WithModel.transform((f) => f.model),
  z
    .object({ manifest: WithModel })
    .loose()
    .transform((f) => f.manifest.model),
  z
    .object({ job: z.object({ manifest: WithModel }).loose() })
    .loose()
    .transform((f) => f.job.manifest.model),
]);

/** The model config in a parsed JSON config file; InvalidModelError when it names none. */
export function modelConfigOf(json: unknown): ModelConfig {
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) throw new InvalidModelError('the config names no valid model config');
  return parsed.data;
}
