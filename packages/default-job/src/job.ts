/**
 * The embedded default job: a byte-level Performer of 3.2 M parameters, pretrained on public-domain
 * English (pretrain-corpus.ts; the committed base checkpoint in assets/), fine-tuned by the swarm on the
 * repository's own docs and sources in 2048-token sequences.
 */
import { fileURLToPath } from 'node:url';
import {
  JobManifest,
  PROTOCOL_VERSION,
  jobIdFor,
  type AdmissionPolicy,
  type LoraConfig,
  type TokenizerSpec,
  ModelConfig,
} from '@slimswarm/protocol';

/** The default job's name; its id is this name bound to the coordinator's job key (`jobIdFor`). */
export const DEFAULT_JOB_NAME = 'slimswarm-default';

/**
 * Open admission at 20 bits: about a million SHA-256 hashes per identity, a few seconds for an honest
 * tab or worker once (`npm run bench:admission`), and the same again for every fake identity.
 */
export const DEFAULT_DIFFICULTY_BITS = 20;
export const DEFAULT_ADMISSION: AdmissionPolicy = { mode: 'open', difficultyBits: DEFAULT_DIFFICULTY_BITS };

/** The committed base checkpoint (`npm run pretrain` rebuilds it; see base.ts for its format). */
export const DEFAULT_BASE_PATH = fileURLToPath(new URL('../assets/base.safetensors', import.meta.url));

/**
 * 3.2 M parameters: big enough to be worth fine-tuning, small enough that three workers and a coordinator
 * share two cores and a round of 2048-token sequences closes within about a minute (README).
 */
export const DEFAULT_MODEL: ModelConfig = ModelConfig.parse({
  dModel: 256,
  nLayers: 4,
  nHeads: 4,
  nFeatures: 64,
  vocabSize: 256,
  mlpRatio: 4,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 20211206,
});

/** Long texts at flat memory, which is what SLiM is for: 2048-token sequences in 256-token chunks. */
export const DEFAULT_SEQ_LEN = 2048;
export const DEFAULT_CHUNK = 256;

/** The influence bound (docs/swarm-protocol.md §5b), its parameters chosen by `npm run bench:attack`. */
export const DEFAULT_AGGREGATION = {
  rule: 'clipped-trimmed-mean',
  normBound: 50,
  trimFraction: 0.375,
  minTrim: 1,
  normClip: 1,
  valueClip: 2,
  minContributors: 3,
  minAgreement: 0.1,
} as const satisfies JobManifest['aggregation'];

/** What sets one job apart from another built on the same defaults (an imported model's job, say). */
export interface JobParts {
  /** The job's name; its id is this name bound to the job key (`jobIdFor`). */
  name: string;
  title: string;
  model: ModelConfig;
  tokenizer: TokenizerSpec;
  seqLen?: number;
  chunkSize?: number;
  /** Local steps per round (default 4). */
  localSteps?: number;
  /** The inner AdamW learning rate (default 3e-3: the default job's, for a model pretrained from scratch). */
  lr?: number;
  /** Train LoRA adapters on the frozen base instead of every parameter. */
  lora?: LoraConfig;
}

/**
 * The manifest of a job on the default job's training, compression, aggregation and round settings, for
 * a base checkpoint, under the job key `jobKey` (public, hex).
 */
export function jobManifest(
  parts: JobParts,
  base: { sha256: string; bytes: number; params: number },
  jobKey: string,
  admission: AdmissionPolicy = DEFAULT_ADMISSION,
): JobManifest {
  return JobManifest.parse({
    type: 'job-manifest',
    version: PROTOCOL_VERSION,
    jobId: jobIdFor(parts.name, jobKey),
    jobKey,
    admission,
    title: parts.title,
    model: parts.model,
    tokenizer: parts.tokenizer,
    baseCheckpoint: base,
    training: {
      seqLen: parts.seqLen ?? DEFAULT_SEQ_LEN,
      chunkSize: parts.chunkSize ?? DEFAULT_CHUNK,
      batchSize: 1,
      localSteps: parts.localSteps ?? 4,
      inner: { kind: 'adamw', lr: parts.lr ?? 3e-3, weightDecay: 0.01, gradClip: 1 },
      ...(parts.lora ? { lora: parts.lora } : {}),
    },
    outer: { kind: 'nesterov', lr: 0.7, momentum: 0.5 },
    compression: { codec: 'topk-int8', topkFraction: 0.05, errorFeedback: true },
    // Trimmed among the peers that sent each coordinate: top-k deltas overlap little (docs/benchmarks.md).
    aggregation: DEFAULT_AGGREGATION,
    // The deadline leaves room for worker 0's held-out evaluation between rounds (a few sequences of 2048).
    round: { quorumFraction: 1, deadlineMs: 45_000, minDeltas: 1, peerTimeoutMs: 15_000 },
  });
}

/** The manifest of the default job for a base checkpoint, under the job key `jobKey` (public, hex). */
export function defaultManifest(
  base: { sha256: string; bytes: number; params: number },
  jobKey: string,
  admission: AdmissionPolicy = DEFAULT_ADMISSION,
): JobManifest {
  return jobManifest(
    {
      name: DEFAULT_JOB_NAME,
      title: 'Fine-tune the base Performer on the slimswarm repository',
      model: DEFAULT_MODEL,
      tokenizer: { kind: 'byte' },
    },
    base,
    jobKey,
    admission,
  );
}
