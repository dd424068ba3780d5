/**
 * The worker end-to-end tests' jobs: a small model and job of the test's own, signed by a key the
 * coordinator is started with.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initParams, paramCount, paramShapes, ModelConfig } from '@slimswarm/performer';
import {
  JobManifest,
  PROTOCOL_VERSION,
  encodeSafetensors,
  f32Tensor,
  jobIdFor,
  jobKeyOf,
  sha256Hex,
  type TokenizerSpec,
} from '@slimswarm/protocol';

/**
 * Small enough that one worker closes a round within seconds on a loaded core, with rounds (150 local
 * steps) long enough that the model a summary announces is still the worker's when a joiner asks for it.
 */
export const MODEL: ModelConfig = ModelConfig.parse({
  dModel: 32,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 16,
  vocabSize: 256,
  mlpRatio: 2,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 7,
});

export interface TestJobOptions {
  name: string;
  /** Default MODEL. */
  model?: ModelConfig;
  /** Default the byte tokenizer. */
  tokenizer?: TokenizerSpec;
}

/** The test's job (signed by a key in `dir`), its base, and the files the coordinator is started with. */
export async function writeJob(
  dir: string,
  opts: TestJobOptions,
): Promise<{ manifest: JobManifest; manifestPath: string; base: string; key: string }> {
  const model = opts.model ?? MODEL;
  const seed = randomBytes(32);
  const jobKey = jobKeyOf(new Uint8Array(seed));
  const params = initParams(model);
  const shapes = paramShapes(model);
  const base = encodeSafetensors(
    Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, f32Tensor(s, params[n]!)])),
  );
  const manifest = JobManifest.parse({
    type: 'job-manifest',
    version: PROTOCOL_VERSION,
    jobId: jobIdFor(opts.name, jobKey),
    jobKey,
    admission: { mode: 'open', difficultyBits: 8 },
    model,
    tokenizer: opts.tokenizer ?? { kind: 'byte' },
    baseCheckpoint: { sha256: sha256Hex(base), bytes: base.byteLength, params: paramCount(model) },
    training: {
      seqLen: 64,
      chunkSize: 32,
      batchSize: 1,
      localSteps: 150,
      inner: { kind: 'adamw', lr: 1e-2 },
    },
    outer: { kind: 'nesterov', lr: 0.7, momentum: 0.5 },
    compression: { codec: 'topk-int8', topkFraction: 0.1, errorFeedback: true },
    aggregation: { rule: 'mean', normBound: 100 },
    round: { quorumFraction: 1, deadlineMs: 10_000, minDeltas: 1, peerTimeoutMs: 10_000 },
  });
  const files = {
    manifestPath: join(dir, 'job.json'),
    base: join(dir, 'base.safetensors'),
    key: join(dir, 'job.key'),
  };
  await writeFile(files.manifestPath, JSON.stringify(manifest));
  await writeFile(files.base, base);
  await writeFile(files.key, seed.toString('hex'));
  return { manifest, ...files };
}
