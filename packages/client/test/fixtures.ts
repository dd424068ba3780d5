/** A tiny job the client tests share: model, base checkpoint, manifest and a coordinator stand-in. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  encodeSafetensors,
  f32Tensor,
  jobIdFor,
  jobKeyOf,
  JobManifest,
  PROTOCOL_VERSION,
  sha256Hex,
  signJob,
  type JobListing,
  type SignedJob,
} from '@slimswarm/protocol';
import { initParams, paramCount, paramShapes, ModelConfig } from '@slimswarm/performer';

export const model: ModelConfig = ModelConfig.parse({
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 8,
  vocabSize: 256,
  mlpRatio: 2,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 3,
});
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

/**
 * A coordinator's two endpoints on loopback: the test job's signed listing (naming `bootstrap`) and its
 * base checkpoint. `reads` counts the listing's reads (keepMeeting re-reads it).
 */
export async function serveJob(
  bootstrap: string[] = [],
): Promise<{ url: string; base: Uint8Array; reads: () => number; close: () => Promise<void> }> {
  const base = baseCheckpoint();
  const listing: JobListing = {
    job: signedJobFor(base),
    coordinatorPeerId: 'coordinator',
    bootstrap,
    iceServers: [],
  };
  let reads = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/base') return res.end(base);
    reads++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(listing));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    base,
    reads: () => reads,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
