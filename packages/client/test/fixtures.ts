/** A tiny job the client tests share: model, base checkpoint and manifest. */
import { encodeSafetensors, f32Tensor, JobManifest, PROTOCOL_VERSION, sha256Hex } from '@slimswarm/protocol';
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

export function manifestFor(base: Uint8Array, jobId = 'client-test'): JobManifest {
  return JobManifest.parse({
    type: 'job-manifest',
    version: PROTOCOL_VERSION,
    jobId,
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
