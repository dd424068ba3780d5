/**
 * A small variant of the default job, for tests and load benchmarks that run many peers on two cores:
 * the 116 k-parameter model on 128-token sequences, from its seeded init (nothing pretrained, so it needs
 * no asset), under its own job name. Everything else (codec, merge rule, outer step) is the default job's,
 * so what a test proves about the swarm holds for the default job too.
 */
import { join } from 'node:path';
import { JobManifest, jobIdFor, sha256Hex, type AdmissionPolicy, ModelConfig } from '@slimswarm/protocol';
import { initParams, paramCount } from '@slimswarm/performer';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { DEFAULT_ADMISSION, defaultManifest } from './job.js';
import { encodeBaseWeights } from '@slimswarm/performer/weights';

export const SMALL_JOB_NAME = 'slimswarm-small';

export const SMALL_MODEL: ModelConfig = ModelConfig.parse({
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nFeatures: 32,
  vocabSize: 256,
  mlpRatio: 4,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 20211206,
});

export interface SmallJob {
  manifest: JobManifest;
  /** The base checkpoint the manifest names (the model's seeded init). */
  base: Uint8Array;
}

export interface SmallJobOptions {
  /** The coordinator's job key (public, hex): a manifest file must name the key it is published under. */
  jobKey: string;
  admission?: AdmissionPolicy;
  localSteps?: number;
}

export function smallJob(opts: SmallJobOptions): SmallJob {
  const base = encodeBaseWeights(SMALL_MODEL, initParams(SMALL_MODEL));
  const info = { sha256: sha256Hex(base), bytes: base.byteLength, params: paramCount(SMALL_MODEL) };
  const manifest = defaultManifest(info, opts.jobKey, opts.admission ?? DEFAULT_ADMISSION);
  return {
    base,
    manifest: JobManifest.parse({
      ...manifest,
      jobId: jobIdFor(SMALL_JOB_NAME, opts.jobKey),
      title: 'Fine-tune a small Performer on the slimswarm repository (tests and load benchmarks)',
      model: SMALL_MODEL,
      training: {
        ...manifest.training,
        seqLen: 128,
        chunkSize: 32,
        localSteps: opts.localSteps ?? 8,
      },
      round: { ...manifest.round, deadlineMs: 20_000 },
    }),
  };
}

/** Writes the small job as `manifest.json` and `base.safetensors` in `dir`, for `--manifest` / `--base`. */
export async function writeSmallJob(
  dir: string,
  opts: SmallJobOptions,
): Promise<{ manifestPath: string; basePath: string; manifest: JobManifest }> {
  const job = smallJob(opts);
  const manifestPath = join(dir, 'manifest.json');
  const basePath = join(dir, 'base.safetensors');
  await writeFileAtomic(basePath, job.base);
  await writeFileAtomic(manifestPath, JSON.stringify(job.manifest));
  return { manifestPath, basePath, manifest: job.manifest };
}
