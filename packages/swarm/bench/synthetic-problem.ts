/**
 * A synthetic federated problem that needs no model code: every peer minimises its own diagonal
 * least-squares objective f_i(w) = ½ Σ_j h_j (w_j − t_ij)², with heavy-tailed curvature h (a few stiff
 * coordinates carry most of the loss, as in real networks) and per-peer targets t_i = t + σ·noise (data
 * heterogeneity). The shared optimum is the mean target; `loss` is the excess global loss at w.
 * Used by the tests and the benchmark so that both exercise the swarm with the same kind of trainer.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  ModelConfig,
  PROTOCOL_VERSION,
  jobIdFor,
  type AdmissionPolicy,
  type ContributorStats,
  type JobManifest,
} from '@slimswarm/protocol';
import { toString } from 'uint8arrays';
import { StaleContributionError } from '../src/errors.js';
import type { Weights } from '../src/model-layout.js';
import type { SwarmReplica } from '../src/replica.js';

/** Deterministic PRNG (mulberry32) so every run and every peer sees the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

export interface SyntheticProblem {
  /** Tensor names and shapes of the "model". */
  shapes: Record<string, number[]>;
  params: number;
  curvature: Float32Array; // [P] h
  target: Float32Array; // [P] t (mean of the peers' targets)
  /** Peer i's targets (P). */
  peerTarget(i: number): Float32Array;
  /** Excess global loss ½ Σ h_j (w_j − t_j)², in f64. */
  loss(flat: Float32Array): number;
}

export function syntheticProblem(params: number, seed: number, heterogeneity = 0.3): SyntheticProblem {
  const half = Math.floor(params / 2);
  const shapes = { 'layer0.weight': [half], 'layer1.weight': [params - half] };
  const normal = gaussian(rng(seed));
  const order = rng(seed + 1);
  const curvature = new Float32Array(params);
  const target = new Float32Array(params);
  for (let j = 0; j < params; j++) {
    // Power-law spectrum over a random ranking of the coordinates: h = (rank + 1)^-1.2, stiffest = 1.
    const rank = Math.floor(order() * params);
    curvature[j] = (rank + 1) ** -1.2;
    target[j] = normal();
  }
  const cache = new Map<number, Float32Array>();
  return {
    shapes,
    params,
    curvature,
    target,
    peerTarget(i) {
      let t = cache.get(i);
      if (!t) {
        const n = gaussian(rng(seed * 1000 + i + 7));
        t = new Float32Array(params);
        for (let j = 0; j < params; j++) t[j] = target[j]! + heterogeneity * n();
        cache.set(i, t);
      }
      return t;
    },
    loss(w) {
      let s = 0;
      for (let j = 0; j < params; j++) {
        const d = w[j]! - target[j]!;
        s += curvature[j]! * d * d;
      }
      return s / 2;
    },
  };
}

/** H gradient steps of peer i from w (P), returned as a new vector. */
export function localSteps(problem: SyntheticProblem, i: number, w: Float32Array, steps: number, lr: number) {
  const t = problem.peerTarget(i);
  const h = problem.curvature;
  const out = Float32Array.from(w);
  for (let s = 0; s < steps; s++)
    for (let j = 0; j < out.length; j++) out[j] = out[j]! - lr * h[j]! * (out[j]! - t[j]!);
  return out;
}

export function zeroWeights(problem: SyntheticProblem): Weights {
  return Object.fromEntries(
    Object.entries(problem.shapes).map(([name, shape]) => [name, new Float32Array(shape[0]!)]),
  );
}

/** The synthetic job's key: a fixed, public seed, so tests and benches can sign jobs and tickets for it. */
export const SYNTHETIC_JOB_SECRET = new Uint8Array(32).fill(7);
export const SYNTHETIC_JOB_KEY = toString(ed25519.getPublicKey(SYNTHETIC_JOB_SECRET), 'base16');
/** Four bits (16 hashes on average): the admission checks run, and minting costs tests nothing. */
export const SYNTHETIC_ADMISSION: AdmissionPolicy = { mode: 'open', difficultyBits: 4 };

export interface ManifestOptions {
  /** The job's name; its id is the name bound to SYNTHETIC_JOB_KEY (jobIdFor). */
  name?: string;
  admission?: AdmissionPolicy;
  baseSha256: string;
  params: number;
  codec?: JobManifest['compression']['codec'];
  topkFraction?: number;
  errorFeedback?: boolean;
  aggregation?: JobManifest['aggregation'];
  round?: Partial<JobManifest['round']>;
  outer?: Partial<JobManifest['outer']>;
}

/** A schema-valid manifest for the synthetic problem (the model section is a placeholder the swarm ignores). */
export function syntheticManifest(o: ManifestOptions): JobManifest {
  return {
    type: 'job-manifest',
    version: PROTOCOL_VERSION,
    jobId: jobIdFor(o.name ?? 'synthetic', SYNTHETIC_JOB_KEY),
    jobKey: SYNTHETIC_JOB_KEY,
    admission: o.admission ?? SYNTHETIC_ADMISSION,
    title: 'synthetic least squares',
    model: ModelConfig.parse({
      dModel: 64,
      nLayers: 1,
      nHeads: 2,
      nFeatures: 16,
      vocabSize: 256,
      mlpRatio: 4,
      seed: 1,
    }),
    tokenizer: { kind: 'byte' },
    baseCheckpoint: { sha256: o.baseSha256, bytes: o.params * 4, params: o.params },
    training: {
      seqLen: 64,
      chunkSize: 16,
      batchSize: 1,
      localSteps: 10,
      inner: { kind: 'adamw', lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 },
    },
    outer: { kind: 'nesterov', lr: 0.7, momentum: 0.9, ...o.outer },
    compression: {
      codec: o.codec ?? 'topk-int8',
      topkFraction: o.topkFraction ?? 0.05,
      errorFeedback: o.errorFeedback ?? true,
    },
    aggregation: o.aggregation ?? { rule: 'trimmed-mean', normBound: 1e6, trimFraction: 0.125 },
    round: {
      quorumFraction: 1,
      deadlineMs: 5_000,
      minDeltas: 1,
      peerTimeoutMs: 3_000,
      maxStaleness: 1,
      ...o.round,
    },
  };
}

/** Named tensors (sorted by name, as ModelLayout orders them) to one flat vector. */
export function flat(weights: Record<string, Float32Array>, problem: SyntheticProblem): Float32Array {
  const out = new Float32Array(problem.params);
  let offset = 0;
  for (const name of Object.keys(problem.shapes).sort()) {
    out.set(weights[name]!, offset);
    offset += weights[name]!.length;
  }
  return out;
}

export function named(v: Float32Array, problem: SyntheticProblem): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let offset = 0;
  for (const name of Object.keys(problem.shapes).sort()) {
    const size = problem.shapes[name]![0]!;
    out[name] = v.slice(offset, offset + size);
    offset += size;
  }
  return out;
}

export interface RoundReport {
  round: number;
  /** From this peer's publish to its merge of the round. */
  publishToMergeMs: number;
  wireBytes: number;
}

/**
 * The volunteer loop with the synthetic trainer: H steps from g_r, contribute, wait for the merge; a stale
 * round (closed without us, or resynced) restarts from the current model. Stops at `untilRound`.
 */
export async function trainLoop(
  replica: SwarmReplica,
  problem: SyntheticProblem,
  index: number,
  untilRound: number,
  manifest: JobManifest,
  onRound?: (r: RoundReport) => void,
  /** Milliseconds to stall before contributing to a round (a slow or busy peer), 0 by default. */
  stallMs: (round: number) => number = () => 0,
): Promise<void> {
  for (;;) {
    const base = replica.current();
    if (base.round >= untilRound) return;
    const local = localSteps(problem, index, flat(base.weights, problem), manifest.training.localSteps, 0.5);
    const stall = stallMs(base.round);
    if (stall > 0) await new Promise((r) => setTimeout(r, stall));
    const stats: ContributorStats = {
      tokens: 1000,
      steps: manifest.training.localSteps,
      meanLoss: problem.loss(local),
    };
    let sent;
    try {
      sent = await replica.contribute(base, named(local, problem), stats);
    } catch (err) {
      if (!(err instanceof StaleContributionError)) throw err;
      continue;
    }
    const publishedAt = performance.now();
    // Asked only now: contribute() may close an overdue round itself (a busy event loop), and a wait
    // registered before it would take that close for the close of this delta's round.
    await replica.nextRound();
    onRound?.({
      round: base.round,
      publishToMergeMs: performance.now() - publishedAt,
      wireBytes: sent.wireBytes,
    });
  }
}
