/** A tiny job the client tests share: model, base checkpoint and manifest. */
import {
  encodeSafetensors,
  f32Tensor,
  jobIdFor,
  jobKeyOf,
  JobManifest,
  PROTOCOL_VERSION,
  sha256Hex,
  signJob,
  type SignedJob,
} from '@slimswarm/protocol';
import { initParams, paramCount, paramShapes, type ModelConfig } from '@slimswarm/performer';

export const model: ModelConfig = {
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 8,
  vocabSize: 256,
  mlpRatio: 2,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 3,
};
export const L = 24;

export function baseCheckpoint(): Uint8Array {
  const params = initParams(model);
  const shapes = paramShapes(model);
  return encodeSafetensors(
    Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, f32Tensor(s, params[n]!)])),
  );
}

/** The test job's key: a fixed, public seed. */
export const JOB_SECRET = new Uint8Array(32).fill(5);
export const JOB_KEY = jobKeyOf(JOB_SECRET);

export function manifestFor(base: Uint8Array, name = 'client-test'): JobManifest {
  return JobManifest.parse({
    type: 'job-manifest',
    version: PROTOCOL_VERSION,
    jobId: jobIdFor(name, JOB_KEY),
    jobKey: JOB_KEY,
    // A few bits: replicas mint their stamps at once, and the admission checks still run.
    admission: { mode: 'open', difficultyBits: 3 },
    model,
    tokenizer: { kind: 'byte' },
    baseCheckpoint: { sha256: sha256Hex(base), bytes: base.byteLength, params: paramCount(model) },
    training: { seqLen: L, chunkSize: 8, batchSize: 1, localSteps: 4, inner: { kind: 'adamw', lr: 1e-2 } },
    outer: { kind: 'nesterov', lr: 0.7, momentum: 0.5 },
    compression: { codec: 'topk-int8', topkFraction: 0.1, errorFeedback: true },
    aggregation: { rule: 'mean', normBound: 100 },
    round: { quorumFraction: 1, deadlineMs: 10_000, minDeltas: 1, peerTimeoutMs: 5_000 },
  });
}

/** The test job for `base`, signed by the test job key: what a coordinator's listing carries. */
export function signedJobFor(base: Uint8Array, name?: string): SignedJob {
  return signJob(manifestFor(base, name), JOB_SECRET);
}
