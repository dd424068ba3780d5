/**
 * Checkpoints as canonical safetensors (browser-safe; files are in node.ts). Layout:
 *
 *   <param name>      f32, the shape from paramShapes       the weights
 *   m.<param name>    f32, same shape                       AdamW first moments   } both or neither
 *   v.<param name>    f32, same shape                       AdamW second moments  }
 *   __metadata__      format, version, config (canonical JSON of ModelConfig), step, featureEpoch,
 *                     optimizerStep (only with moments), lora + baseSha256 (only for LoRA)
 *
 * A LoRA checkpoint holds the trainable adapters (trainableShapes) in place of the parameters, and names
 * its frozen base by SHA-256 (`baseSha256`) instead of repeating it; the config in `lora` is the
 * manifest's LoraConfig, so frozen factors are derived again from the seed.
 *
 * The encoding is canonical (protocol's encodeSafetensors), so the SHA-256 of the bytes names the content;
 * decoding insists on canonical bytes so that a checkpoint's hash and its content can never disagree.
 */
import {
  LoraConfig,
  ModelConfig,
  canonicalJson,
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  isProtocolError,
  sha256Hex,
  tensorToF32,
} from '@slimswarm/protocol';
import type { Tensor } from '@slimswarm/protocol';
import { z } from 'zod';
import { trainableShapes } from '../model/lora.js';
import type { LoraSpec } from '../model/lora.js';
import type { Params } from '../model/params.js';
import type { AdamWState } from '../optim/adamw.js';
import {
  CheckpointConfigMismatchError,
  CheckpointFormatError,
  CheckpointHashMismatchError,
  CheckpointLoraMismatchError,
} from './errors.js';

export const CHECKPOINT_FORMAT = 'slimswarm-performer-checkpoint';
export const CHECKPOINT_VERSION = '1';

export interface Checkpoint {
  config: ModelConfig;
  params: Params;
  /** Training steps taken (drives the feature-redraw schedule). */
  step: number;
  /**
   * Redraw epoch of the random features that go with these weights at `step` (what the next step and any
   * evaluation use): featureEpoch(config, step) for a Trainer checkpoint, stored so readers need not know
   * the schedule.
   */
  featureEpoch: number;
  /** AdamW moments and update count; absent in weights-only checkpoints (e.g. a merged global model). */
  optimizer?: AdamWState;
  /** Present for LoRA: `params` are then the trainable adapters of the base with this hash. */
  lora?: LoraSpec;
}

export interface CheckpointExpectation {
  /** Refuse a checkpoint of any other model (compared after zod defaults are filled in). */
  config?: z.input<typeof ModelConfig>;
  /** Refuse bytes with any other SHA-256 (lower-case hex). */
  sha256?: string;
  /** Refuse anything but adapters of this config on this base (a LoRA job's saved state). */
  lora?: LoraSpec;
}

const Count = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/)
  .transform(Number)
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

const Metadata = z
  .object({
    format: z.literal(CHECKPOINT_FORMAT),
    version: z.literal(CHECKPOINT_VERSION),
    config: z.string(),
    step: Count,
    featureEpoch: Count,
    optimizerStep: Count.optional(),
    lora: z.string().optional(),
    baseSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
  })
  .strict()
  .refine((m) => (m.lora === undefined) === (m.baseSha256 === undefined), {
    message: 'lora and baseSha256 come together',
  });

/** The canonical bytes of a checkpoint. */
export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const config = parseConfig(ckpt.config);
  const lora = ckpt.lora && parseLora(ckpt.lora);
  const shapes = trainableShapes(config, lora?.config);
  checkCount('step', ckpt.step);
  checkCount('featureEpoch', ckpt.featureEpoch);
  const tensors: Record<string, Tensor> = {};
  const add = (name: string, shape: number[], values: Float32Array | undefined): void => {
    const expected = shape.reduce((a, b) => a * b, 1);
    if (values?.length !== expected) {
      throw new CheckpointFormatError(
        `${name} must have ${expected} values, has ${values?.length ?? 'none'}`,
      );
    }
    tensors[name] = f32Tensor(shape, values);
  };
  for (const [name, shape] of Object.entries(shapes)) {
    add(name, shape, ckpt.params[name]);
    if (ckpt.optimizer !== undefined) {
      add(`m.${name}`, shape, ckpt.optimizer.m[name]);
      add(`v.${name}`, shape, ckpt.optimizer.v[name]);
    }
  }
  const extra = Object.keys(ckpt.params).find((name) => shapes[name] === undefined);
  if (extra !== undefined) throw new CheckpointFormatError(`parameter ${extra} is not part of the model`);
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: canonicalJson(config),
    step: String(ckpt.step),
    featureEpoch: String(ckpt.featureEpoch),
  };
  if (ckpt.optimizer !== undefined) {
    checkCount('optimizer step', ckpt.optimizer.step);
    metadata.optimizerStep = String(ckpt.optimizer.step);
  }
  if (lora) {
    metadata.lora = canonicalJson(lora.config);
    metadata.baseSha256 = lora.baseSha256;
  }
  try {
    return encodeSafetensors(tensors, metadata);
  } catch (e) {
    if (isProtocolError(e))
      throw new CheckpointFormatError(`cannot encode checkpoint: ${e.message}`, { cause: e });
    throw e;
  }
}

/** SHA-256 (lower-case hex) of the checkpoint's canonical bytes: its content address. */
export function checkpointSha256(ckpt: Checkpoint): string {
  return sha256Hex(encodeCheckpoint(ckpt));
}

/** Parses and fully validates checkpoint bytes; the result owns copies of all tensor data. */
export function decodeCheckpoint(bytes: Uint8Array, expect: CheckpointExpectation = {}): Checkpoint {
  if (expect.sha256 !== undefined) {
    const actual = sha256Hex(bytes);
    if (actual !== expect.sha256.toLowerCase()) throw new CheckpointHashMismatchError(expect.sha256, actual);
  }
  let content: ReturnType<typeof decodeSafetensors>;
  try {
    content = decodeSafetensors(bytes);
  } catch (e) {
    if (isProtocolError(e))
      throw new CheckpointFormatError(`not a valid safetensors file: ${e.message}`, { cause: e });
    throw e;
  }
  const meta = Metadata.safeParse(content.metadata);
  if (!meta.success)
    throw new CheckpointFormatError(`bad checkpoint metadata: ${z.prettifyError(meta.error)}`);
  let configJson: unknown;
  try {
    configJson = JSON.parse(meta.data.config);
  } catch {
    throw new CheckpointFormatError('checkpoint config is not JSON');
  }
  const config = parseConfig(configJson);
  if (expect.config !== undefined) {
    const want = canonicalJson(parseConfig(expect.config));
    const have = canonicalJson(config);
    if (want !== have) throw new CheckpointConfigMismatchError(want, have);
  }

  let lora: LoraSpec | undefined;
  if (meta.data.lora !== undefined) {
    let loraJson: unknown;
    try {
      loraJson = JSON.parse(meta.data.lora);
    } catch {
      throw new CheckpointFormatError('checkpoint lora config is not JSON');
    }
    lora = parseLora({ config: loraJson as LoraConfig, baseSha256: meta.data.baseSha256! });
  }
  if (expect.lora !== undefined) {
    const want = canonicalJson(parseLora(expect.lora));
    const have = lora ? canonicalJson(lora) : 'no adapters';
    if (want !== have) throw new CheckpointLoraMismatchError(want, have);
  }
  const shapes = trainableShapes(config, lora?.config);
  const hasOptimizer = meta.data.optimizerStep !== undefined;
  const expectedNames = new Set(
    Object.keys(shapes).flatMap((name) => (hasOptimizer ? [name, `m.${name}`, `v.${name}`] : [name])),
  );
  for (const name of Object.keys(content.tensors)) {
    if (!expectedNames.has(name)) throw new CheckpointFormatError(`unexpected tensor ${name}`);
  }
  const take = (name: string, shape: number[]): Float32Array => {
    const t = content.tensors[name];
    if (t === undefined) throw new CheckpointFormatError(`tensor ${name} is missing`);
    if (t.dtype !== 'f32' || t.shape.join(',') !== shape.join(',')) {
      throw new CheckpointFormatError(
        `tensor ${name} is ${t.dtype} [${t.shape.join(', ')}], expected f32 [${shape.join(', ')}]`,
      );
    }
    return tensorToF32(t);
  };
  const params: Params = {};
  const m: Params = {};
  const v: Params = {};
  for (const [name, shape] of Object.entries(shapes)) {
    params[name] = take(name, shape);
    if (hasOptimizer) {
      m[name] = take(`m.${name}`, shape);
      v[name] = take(`v.${name}`, shape);
    }
  }
  const ckpt: Checkpoint = { config, params, step: meta.data.step, featureEpoch: meta.data.featureEpoch };
  if (meta.data.optimizerStep !== undefined) ckpt.optimizer = { step: meta.data.optimizerStep, m, v };
  if (lora) ckpt.lora = lora;

  const canonical = encodeCheckpoint(ckpt);
  if (!sameBytes(canonical, bytes)) {
    throw new CheckpointFormatError(
      'checkpoint bytes are not in the canonical encoding, so their hash would not name the content',
    );
  }
  return ckpt;
}

function parseConfig(config: unknown): ModelConfig {
  const parsed = ModelConfig.safeParse(config);
  if (!parsed.success)
    throw new CheckpointFormatError(`invalid model config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function parseLora(spec: LoraSpec): LoraSpec {
  const config = LoraConfig.safeParse(spec.config);
  if (!config.success)
    throw new CheckpointFormatError(`invalid LoRA config: ${z.prettifyError(config.error)}`);
  if (!/^[0-9a-f]{64}$/.test(spec.baseSha256))
    throw new CheckpointFormatError('baseSha256 must be 64 lower-case hex digits');
  return { config: config.data, baseSha256: spec.baseSha256 };
}

function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CheckpointFormatError(`${what} must be a non-negative integer, got ${n}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
