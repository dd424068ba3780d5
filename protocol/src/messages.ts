import { z } from 'zod';
import { AdmissionPolicy, AdmissionStamp } from './admission.js';
import { PROTOCOL_LIMITS, PROTOCOL_VERSION } from './constants.js';
import { JobKeyHex, SignatureHex, jobIdMatchesKey } from './job-key.js';
import { PrivacyConfig, privateDeltaNormBound } from './privacy.js';

// ---------------------------------------------------------------------------------------------------------
// Primitives shared by several messages.
// ---------------------------------------------------------------------------------------------------------

/** Lower-case hex SHA-256 digest. */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex SHA-256 digest');
export type Sha256Hex = z.infer<typeof Sha256Hex>;

/** Job ids appear in gossip topics, so they are restricted to a safe alphabet. */
export const JobId = z
  .string()
  .min(1)
  .max(PROTOCOL_LIMITS.maxJobIdLength)
  .regex(/^[A-Za-z0-9._-]+$/, 'job id may contain only letters, digits, ".", "_" and "-"');

export const Round = z.number().int().min(0).max(PROTOCOL_LIMITS.maxRound);
/** A 32-bit unsigned seed: every seeded stream (init, features, shuffles) takes one. */
export const Seed = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const FiniteNonNeg = z.number().finite().min(0);
const Fraction = z.number().finite().gt(0).lte(1);
const PositiveInt = (max: number) => z.number().int().min(1).max(max);

/** The version every message carries. A newer version than ours is ignored (never rejected): see README. */
export const Version = z.literal(PROTOCOL_VERSION);

// ---------------------------------------------------------------------------------------------------------
// Model, tokenizer and training configuration (embedded in the job manifest; also stored in checkpoints).
// ---------------------------------------------------------------------------------------------------------

/** When the FAVOR+ random projection ω is redrawn. Every redraw restarts the attention states. */
export const FeatureRedraw = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('never') }).strict(),
  z.object({ kind: z.literal('every-steps'), steps: PositiveInt(1_000_000) }).strict(),
]);
export type FeatureRedraw = z.infer<typeof FeatureRedraw>;

/** Normalisation before attention, before the MLP and before the head. */
export const NormKind = z.enum([
  /** LayerNorm with weight and bias (GPT-2 and our own models). */
  'layernorm',
  /** RMSNorm, weight only (Llama, Qwen2). */
  'rmsnorm',
]);
export type NormKind = z.infer<typeof NormKind>;

export const MlpKind = z.enum([
  /** down(gelu(up(x))), exact erf GELU. */
  'gelu',
  /** down(gelu(up(x))), the tanh approximation (GPT-2's `gelu_new`). */
  'gelu-tanh',
  /** down(silu(gate(x)) ⊙ up(x)) (Llama, Qwen2). */
  'swiglu',
]);
export type MlpKind = z.infer<typeof MlpKind>;

export const PositionKind = z.enum([
  /** Rotary embedding of q and k before the feature map, frequencies ropeBase^(−2p/E). */
  'rope',
  /** A learned absolute position embedding added to the token embedding (GPT-2); needs maxPositions. */
  'learned',
]);
export type PositionKind = z.infer<typeof PositionKind>;

/** Which projections carry a bias. */
export const ModelBiases = z
  .object({
    /** q, k and v projections (GPT-2, Qwen2). */
    qkv: z.boolean().default(false),
    /** The attention output projection (GPT-2). */
    attnOut: z.boolean().default(false),
    /** Both (or, with SwiGLU, all three) MLP projections (GPT-2 and our own models). */
    mlp: z.boolean().default(true),
  })
  .strict();
export type ModelBiases = z.infer<typeof ModelBiases>;

/**
 * Architecture of the causal Performer: our own family (LayerNorm, GELU, RoPE, tied head) by default,
 * and the Llama / Qwen2 / GPT-2 families imported from Hugging Face folders. Attention is always FAVOR+
 * (exact SLiM gradients); what a family changes is around it. Chunk size is not here: it changes memory,
 * not the math.
 */
export const ModelConfig = z
  .object({
    dModel: PositiveInt(8192),
    nLayers: PositiveInt(128),
    nHeads: PositiveInt(256),
    /** Key/value heads (grouped-query attention); absent: one per query head. Must divide nHeads. */
    nKvHeads: PositiveInt(256).optional(),
    /** Random features per head (M). */
    nFeatures: PositiveInt(8192),
    vocabSize: PositiveInt(1 << 20),
    /** MLP hidden size F = mlpRatio · dModel; give exactly one of mlpRatio and ffnSize. */
    mlpRatio: PositiveInt(16).optional(),
    ffnSize: PositiveInt(1 << 18).optional(),
    norm: NormKind.default('layernorm'),
    normEps: z.number().finite().gt(0).lte(0.1).default(1e-5),
    mlp: MlpKind.default('gelu'),
    positions: PositionKind.default('rope'),
    ropeBase: z.number().finite().gt(1).default(10_000),
    /** Rows of the learned position embedding (positions: 'learned'); sequences may not be longer. */
    maxPositions: PositiveInt(1 << 24).optional(),
    bias: ModelBiases.default({ qkv: false, attnOut: false, mlp: true }),
    /** The LM head is the token embedding transposed (true) or a matrix of its own. */
    tiedHead: z.boolean().default(true),
    featureRedraw: FeatureRedraw.default({ kind: 'never' }),
    /** Seeds parameter init and the random features, so every peer derives the same ω. */
    seed: Seed,
  })
  .strict()
  .refine((c) => c.dModel % c.nHeads === 0, { message: 'dModel must be divisible by nHeads' })
  .refine((c) => c.positions !== 'rope' || (c.dModel / c.nHeads) % 2 === 0, {
    message: 'head size must be even for rotary embedding',
  })
  .refine((c) => c.nKvHeads === undefined || c.nHeads % c.nKvHeads === 0, {
    message: 'nKvHeads must divide nHeads',
    path: ['nKvHeads'],
  })
  .refine((c) => (c.mlpRatio === undefined) !== (c.ffnSize === undefined), {
    message: 'give exactly one of mlpRatio and ffnSize',
    path: ['ffnSize'],
  })
  .refine((c) => (c.positions === 'learned') === (c.maxPositions !== undefined), {
    message: 'maxPositions is given exactly when positions is "learned"',
    path: ['maxPositions'],
  });
export type ModelConfig = z.infer<typeof ModelConfig>;

/** A file peers fetch from the coordinator and check by hash before use. */
const PublishedFile = z
  .object({
    sha256: Sha256Hex,
    bytes: PositiveInt(PROTOCOL_LIMITS.maxTokenizerBytes),
  })
  .strict();

export const TokenizerSpec = z.discriminatedUnion('kind', [
  /** UTF-8 bytes as tokens 0..255; vocabSize must be ≥ 256. */
  z.object({ kind: z.literal('byte') }).strict(),
  /**
   * A Hugging Face `tokenizer.json` (byte-level BPE and the other kinds the Llama, Qwen2 and GPT-2
   * families use), served by the coordinator and checked against this hash; `config` is its
   * `tokenizer_config.json` where the tokenizer needs one.
   */
  z
    .object({
      kind: z.literal('hf'),
      tokenizer: PublishedFile,
      config: PublishedFile.optional(),
    })
    .strict(),
]);
export type TokenizerSpec = z.infer<typeof TokenizerSpec>;

/** The matrices LoRA may adapt, by role (GELU MLPs have no gate). */
export const LoraTarget = z.enum(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);
export type LoraTarget = z.infer<typeof LoraTarget>;

/**
 * Low-rank adapters: the base stays frozen (the base checkpoint), and each targeted matrix W of every
 * layer trains W + (alpha / rank) · A B with A [in, rank] and B [rank, out], B starting at zero. Only the
 * adapters are trained, held by the optimiser and sent in deltas.
 */
export const LoraConfig = z
  .object({
    /**
     * 'b': A is a fixed random projection every peer derives from the seed and only B trains, so the mean
     * of the peers' B is exactly the mean of their updates A·B (FFA-LoRA). 'ab': both factors train and
     * the merge averages each one, which is not the mean of the products (FLoRA's point); kept so the
     * difference can be measured.
     */
    factors: z.enum(['b', 'ab']).default('b'),
    rank: PositiveInt(1024),
    alpha: z
      .number()
      .finite()
      .gt(0)
      .lte(1 << 16),
    targets: z
      .array(LoraTarget)
      .min(1)
      .max(LoraTarget.options.length)
      .refine((t) => new Set(t).size === t.length, { message: 'targets must not repeat' }),
  })
  .strict();
export type LoraConfig = z.infer<typeof LoraConfig>;

/**
 * The number of values a job trains, holds in its replicas and sends in every delta (P): the base's
 * parameter count for full fine-tuning; for LoRA, over every layer and target, B [rank, out] and with
 * factors 'ab' also A [in, rank]. A pure function of the manifest, so a peer without the model (an
 * observer) bounds and decodes deltas at the same size as a replica (the performer's trainableShapes
 * must total the same: its test checks every family).
 */
export function trainableParamCount(job: {
  model: ModelConfig;
  training: { lora?: LoraConfig | undefined };
  baseCheckpoint: { params: number };
}): number {
  const lora = job.training.lora;
  if (!lora) return job.baseCheckpoint.params;
  const m = job.model;
  const d = m.dModel;
  const dkv = (m.nKvHeads ?? m.nHeads) * (d / m.nHeads);
  const f = m.ffnSize ?? m.mlpRatio! * d;
  // [in, out] of each target's matrix (stored [in, out] and applied as x @ W).
  const dims: Record<LoraTarget, [number, number]> = {
    q: [d, d],
    k: [d, dkv],
    v: [d, dkv],
    o: [d, d],
    gate: [d, f],
    up: [d, f],
    down: [f, d],
  };
  const perLayer = lora.targets.reduce((sum, t) => {
    const [inDim, outDim] = dims[t];
    return sum + lora.rank * (outDim + (lora.factors === 'ab' ? inDim : 0));
  }, 0);
  return perLayer * m.nLayers;
}

export const InnerOptimizer = z
  .object({
    kind: z.literal('adamw'),
    lr: z.number().finite().gt(0).lte(1),
    beta1: z.number().finite().min(0).lt(1).default(0.9),
    beta2: z.number().finite().min(0).lt(1).default(0.999),
    eps: z.number().finite().gt(0).default(1e-8),
    weightDecay: z.number().finite().min(0).default(0),
    /** Global-norm gradient clipping; 0 disables it. */
    gradClip: z.number().finite().min(0).default(1),
  })
  .strict();
export type InnerOptimizer = z.infer<typeof InnerOptimizer>;

export const TrainingConfig = z
  .object({
    /** Tokens per training sequence (L). */
    seqLen: PositiveInt(1 << 24),
    /** Default chunk size C for the SLiM engine; peers may pick another without changing results. */
    chunkSize: PositiveInt(1 << 16),
    batchSize: PositiveInt(1024),
    /** Local steps per round (H in DiLoCo). */
    localSteps: PositiveInt(1_000_000),
    inner: InnerOptimizer,
    /** Train low-rank adapters on a frozen base instead of every parameter. */
    lora: LoraConfig.optional(),
  })
  .strict();
export type TrainingConfig = z.infer<typeof TrainingConfig>;

/** Outer optimiser applied to the aggregated pseudo-gradient. */
export const OuterOptimizer = z
  .object({
    kind: z.literal('nesterov'),
    lr: z.number().finite().gt(0).lte(10),
    momentum: z.number().finite().min(0).lt(1),
  })
  .strict();
export type OuterOptimizer = z.infer<typeof OuterOptimizer>;

export const CodecId = z.enum(['dense-f32', 'dense-f16', 'topk-int8']);
export type CodecId = z.infer<typeof CodecId>;

export const CompressionConfig = z
  .object({
    codec: CodecId,
    /** Fraction of coordinates kept by top-k (ignored by dense codecs). */
    topkFraction: Fraction.default(0.01),
    /** Carry what was not sent into the next round's delta. */
    errorFeedback: z.boolean().default(true),
  })
  .strict();
export type CompressionConfig = z.infer<typeof CompressionConfig>;

export const AggregationConfig = z.discriminatedUnion('rule', [
  z
    .object({
      rule: z.literal('mean'),
      normBound: z.number().finite().gt(0),
    })
    .strict(),
  z
    .object({
      rule: z.literal('trimmed-mean'),
      /** Deltas whose L2 norm exceeds this are rejected before aggregation. */
      normBound: z.number().finite().gt(0),
      /** Fraction trimmed from each end, per coordinate. */
      trimFraction: z.number().finite().min(0).lt(0.5),
    })
    .strict(),
  z
    .object({
      /**
       * Trimmed mean over the peers that sent each coordinate (a non-zero value): drop ⌊trim·c⌋ per end
       * of the c senders, average the rest, scale by c/N. Equal to `trimmed-mean` for dense deltas; for
       * top-k deltas it keeps coordinates that few peers selected instead of trimming them to zero.
       */
      rule: z.literal('sparse-trimmed-mean'),
      normBound: z.number().finite().gt(0),
      trimFraction: z.number().finite().min(0).lt(0.5),
    })
    .strict(),
  z
    .object({
      /**
       * The influence bound (docs/swarm-protocol.md §5b). Before trimming, every delta's L2 norm is clipped
       * to `normClip` × the round's median delta norm, and every coordinate to ± `valueClip` × the round's
       * median of the deltas' largest coordinate — relative to the honest majority, not a constant. Then
       * the trimmed mean over each coordinate's senders, with at least `minTrim` per end wherever more than
       * 2·minTrim peers sent it, is the round's robust reference; deltas that do not agree with it (cosine
       * at most `minAgreement`) are left out and the trimmed mean of the rest is the step. Fewer than
       * `minContributors` deltas left: the step is damped by kept/minContributors.
       */
      rule: z.literal('clipped-trimmed-mean'),
      normBound: z.number().finite().gt(0),
      trimFraction: z.number().finite().min(0).lt(0.5),
      minTrim: z.number().int().min(0).max(16).default(1),
      normClip: z.number().finite().gt(0).default(2),
      valueClip: z.number().finite().gt(0).default(2),
      minContributors: PositiveInt(PROTOCOL_LIMITS.maxPeersListed).default(3),
      /** Deltas whose cosine with the round's robust reference is at most this are left out (−1: none). */
      minAgreement: z.number().finite().min(-1).lt(1).default(0),
    })
    .strict(),
  z
    .object({
      rule: z.literal('centered-clip'),
      normBound: z.number().finite().gt(0),
      tau: z.number().finite().gt(0),
      iterations: PositiveInt(100),
    })
    .strict(),
]);
export type AggregationConfig = z.infer<typeof AggregationConfig>;

export const RoundPolicy = z
  .object({
    /** A round closes once this fraction of known active peers has delivered a delta … */
    quorumFraction: Fraction,
    /** … or this long after it received its first delta, whichever comes first. */
    deadlineMs: PositiveInt(24 * 3600 * 1000),
    /** Deltas needed before a round may close at all (1 lets a lone peer go on). */
    minDeltas: PositiveInt(PROTOCOL_LIMITS.maxPeersListed),
    /** A peer not heard from for this long is no longer counted as active. */
    peerTimeoutMs: PositiveInt(24 * 3600 * 1000),
    /**
     * How many rounds old a delta's base may be. A peer slower than the round (a phone tab beside Node
     * workers) finishes its local steps after the round it started from closed; with staleness S its delta
     * still joins the open round if it was computed from one of the last S models. 0: strictly synchronous.
     */
    maxStaleness: z.number().int().min(0).max(PROTOCOL_LIMITS.maxStaleness).default(1),
  })
  .strict();
export type RoundPolicy = z.infer<typeof RoundPolicy>;

// ---------------------------------------------------------------------------------------------------------
// Messages. Every message has a string `type` and the protocol `version`.
// ---------------------------------------------------------------------------------------------------------

export const JobManifest = z
  .object({
    type: z.literal('job-manifest'),
    version: Version,
    /** Ends with `-` and the fingerprint of `jobKey` (jobIdFor): the id names the key. */
    jobId: JobId,
    /** The job's Ed25519 public key: it signs this manifest (job-signature.ts) and admission tickets. */
    jobKey: JobKeyHex,
    /** Who the swarm counts (admission.ts): anyone with a proof of work, or holders of a ticket. */
    admission: AdmissionPolicy,
    /** Human-readable title for dashboards. */
    title: z.string().max(200).default(''),
    model: ModelConfig,
    tokenizer: TokenizerSpec,
    baseCheckpoint: z
      .object({
        sha256: Sha256Hex,
        bytes: PositiveInt(2 ** 40),
        params: PositiveInt(PROTOCOL_LIMITS.maxParams),
      })
      .strict(),
    training: TrainingConfig,
    outer: OuterOptimizer,
    compression: CompressionConfig,
    aggregation: AggregationConfig,
    round: RoundPolicy,
    /** User-level differential privacy: each peer clips and noises its delta (docs/privacy.md). */
    privacy: PrivacyConfig.optional(),
  })
  .strict()
  .refine((m) => m.tokenizer.kind !== 'byte' || m.model.vocabSize >= 256, {
    message: 'a byte tokenizer needs vocabSize ≥ 256',
  })
  .refine((m) => !m.training.lora?.targets.includes('gate') || m.model.mlp === 'swiglu', {
    message: 'LoRA target "gate" needs a SwiGLU MLP',
    path: ['training', 'lora', 'targets'],
  })
  // Deltas are bounded by P; adapters may not make it exceed what a base may have.
  .refine((m) => trainableParamCount(m) <= PROTOCOL_LIMITS.maxParams, {
    message: `LoRA adapters may hold at most ${PROTOCOL_LIMITS.maxParams} values`,
    path: ['training', 'lora'],
  })
  // Error feedback would hold back ~(1 − topkFraction) of every round's noise and re-send it later: the
  // residual (noise only) grows with the rounds past any fixed norm bound and carries no signal.
  .refine((m) => !m.privacy || !m.compression.errorFeedback, {
    message: 'privacy needs compression.errorFeedback false',
    path: ['compression', 'errorFeedback'],
  })
  // Honest noised deltas must pass the norm bound every receiver applies.
  .refine(
    (m) => !m.privacy || m.aggregation.normBound >= privateDeltaNormBound(m.privacy, trainableParamCount(m)),
    {
      message: 'aggregation.normBound is below the norm of a noised delta (privateDeltaNormBound)',
      path: ['aggregation', 'normBound'],
    },
  )
  .refine((m) => jobIdMatchesKey(m.jobId, m.jobKey), {
    message: 'jobId must end with "-" and the job key\'s fingerprint (jobIdFor)',
    path: ['jobId'],
  });
export type JobManifest = z.infer<typeof JobManifest>;

export const ContributorStats = z
  .object({
    tokens: Count,
    steps: Count,
    meanLoss: FiniteNonNeg,
  })
  .strict();
export type ContributorStats = z.infer<typeof ContributorStats>;

/**
 * Announces a pseudo-gradient Δ = g_b − w_local for round r, computed from the model g_b of its base round
 * b (b = r, or up to the job's `maxStaleness` rounds earlier). The compressed tensors travel as the frame
 * payload (see frame.ts); when they exceed the gossip limit they are split into `part.count` frames or
 * fetched over the anti-entropy stream.
 */
export const DeltaAnnouncement = z
  .object({
    type: z.literal('delta-announce'),
    version: Version,
    jobId: JobId,
    /** The round this delta is merged into. */
    round: Round,
    /** The round whose model the local steps started from (≤ round). */
    baseRound: Round,
    /** SHA-256 of that model g_b. */
    baseModelSha256: Sha256Hex,
    stats: ContributorStats,
    codec: CodecId,
    /** Total encoded payload over all parts, and its digest: identifies the delta. */
    payloadBytes: Count,
    payloadSha256: Sha256Hex,
    /**
     * The author's Ed25519 signature (hex) over `deltaSigningBytes` of this header: it names the author
     * wherever the delta travels, so a peer that hands it on over an anti-entropy pull cannot forge or
     * re-attribute it (gossipsub's own signature covers only the gossip hop).
     */
    authorSignature: SignatureHex,
    /** The author's admission stamp; bound to its peer id, so the signature need not cover it. */
    admission: AdmissionStamp,
    /**
     * SHA-256 of each gossip slice of the payload as its author cut it (`partRange`: n slices of
     * ⌈payloadBytes / n⌉ bytes, the last shorter). Signed with the rest of the header, so a receiver checks
     * every part when it arrives — before holding or forwarding it — not only once all parts are in.
     */
    partDigests: z.array(Sha256Hex).min(1).max(PROTOCOL_LIMITS.maxDeltaParts),
    /** Which slice this frame carries: one of the signed `partDigests`, or the whole payload (a pull). */
    part: z
      .object({ index: z.number().int().min(0), count: PositiveInt(PROTOCOL_LIMITS.maxDeltaParts) })
      .strict()
      .refine((p) => p.index < p.count, { message: 'part index must be below part count' }),
  })
  .strict()
  .refine((d) => d.baseRound <= d.round, { message: 'baseRound must not be after round' })
  .refine((d) => d.part.count === 1 || d.part.count === d.partDigests.length, {
    message: 'a frame carries the whole payload or one of its signed parts',
  });
export type DeltaAnnouncement = z.infer<typeof DeltaAnnouncement>;

export const PeerRole = z.enum(['worker', 'browser', 'coordinator', 'dashboard']);
export type PeerRole = z.infer<typeof PeerRole>;

export const PeerStatus = z.enum([
  'starting',
  'syncing',
  'training',
  'merging',
  'paused',
  'idle',
  'stopping',
]);
export type PeerStatus = z.infer<typeof PeerStatus>;

/** Periodic peer status for dashboards and liveness. Carries metrics only, never data. */
export const Heartbeat = z
  .object({
    type: z.literal('heartbeat'),
    version: Version,
    jobId: JobId,
    role: PeerRole,
    status: PeerStatus,
    round: Round,
    modelSha256: Sha256Hex.nullable(),
    step: Count,
    tokensPerSec: FiniteNonNeg,
    loss: FiniteNonNeg.nullable(),
    memoryBytes: Count,
    /** Peer ids this peer is connected to (for the topology view), bounded. */
    connectedPeers: z.array(z.string().min(1).max(128)).max(PROTOCOL_LIMITS.maxPeersListed),
    /** Those of `connectedPeers` reached over a direct WebRTC channel (tab to tab). */
    webRtcPeers: z.array(z.string().min(1).max(128)).max(PROTOCOL_LIMITS.maxPeersListed),
    bytesIn: Count,
    bytesOut: Count,
    /** Sender's wall clock, ms since epoch; informational only. */
    sentAt: Count,
    /**
     * In a private job: the ε (at the job's δ) the sender says its releases spent so far. Self-reported:
     * no peer can check another's noise.
     */
    epsilon: FiniteNonNeg.optional(),
    /** The sender's admission stamp: heartbeats of peers without one are not counted. */
    admission: AdmissionStamp,
  })
  .strict();
export type Heartbeat = z.infer<typeof Heartbeat>;

/** A model this peer holds and trusts: the base checkpoint (round 0), or its own model of a round. */
export const ModelRef = z.object({ round: Round, modelSha256: Sha256Hex }).strict();
export type ModelRef = z.infer<typeof ModelRef>;

/**
 * Asks a peer for the history that leads from `from` — a model the asker already trusts — to the model
 * it holds now (`modelSha256`: that one only; null: whatever it holds). No weights travel: the asker
 * replays the merges itself (docs/swarm-protocol.md §5c).
 */
export const WeightSyncRequest = z
  .object({
    type: z.literal('weight-sync-request'),
    version: Version,
    jobId: JobId,
    modelSha256: Sha256Hex.nullable(),
    from: ModelRef,
  })
  .strict();
export type WeightSyncRequest = z.infer<typeof WeightSyncRequest>;

/**
 * The shared models of the rounds just before a weight-sync body's round (oldest first, at most
 * `maxStaleness`): deltas may still be based on them. Canonical JSON in the body's `pastModels` metadata.
 */
export const PastModels = z
  .array(z.object({ round: Round, modelSha256: Sha256Hex }).strict())
  .max(PROTOCOL_LIMITS.maxStaleness);
export type PastModels = z.infer<typeof PastModels>;

/**
 * The answer to a weight-sync request: `records` round records follow it on the stream, oldest first,
 * from the asker's `from` to the model `round`/`modelSha256`. not-found: this peer holds another model
 * than asked for, or its log does not reach back to `from`; busy: it serves too many syncs right now.
 */
export const WeightSyncResponse = z
  .object({
    type: z.literal('weight-sync-response'),
    version: Version,
    jobId: JobId,
    status: z.enum(['ok', 'not-found', 'busy']),
    round: Round,
    modelSha256: Sha256Hex.nullable(),
    records: Count,
  })
  .strict();
export type WeightSyncResponse = z.infer<typeof WeightSyncResponse>;

/**
 * One closed round of the job's history: the model it started from, the deltas its close merged (one
 * delta-announce frame per author follows it, part 0 of 1, in this order) and the model that came out.
 * Each delta is signed by its author, and the merge is canonical: anyone holding g_r can check g_{r+1}.
 */
export const RoundRecord = z
  .object({
    type: z.literal('round-record'),
    version: Version,
    jobId: JobId,
    round: Round,
    baseModelSha256: Sha256Hex,
    modelSha256: Sha256Hex,
    authors: z.array(z.string().min(1).max(128)).max(PROTOCOL_LIMITS.maxSummaryEntries),
  })
  .strict()
  .refine((r) => new Set(r.authors).size === r.authors.length, { message: 'an author appears twice' });
export type RoundRecord = z.infer<typeof RoundRecord>;

/** One accepted delta as named in summaries: the round, its author and its payload digest. */
export const DeltaRef = z
  .object({
    round: Round,
    peer: z.string().min(1).max(128),
    payloadSha256: Sha256Hex,
  })
  .strict();
export type DeltaRef = z.infer<typeof DeltaRef>;

/**
 * What a sender holds for one round, without listing it: how many deltas it accepted for the round and the
 * SHA-256 of their refs (`refSetDigest`, ref-digest.ts). Equal digests: nothing to pull from each other.
 */
export const HeldRound = z
  .object({
    count: z.number().int().min(0).max(PROTOCOL_LIMITS.maxSummaryEntries),
    digest: Sha256Hex,
  })
  .strict();
export type HeldRound = z.infer<typeof HeldRound>;

/**
 * What a peer has, compactly: its current round and model hash, the hashes of its models of the rounds
 * just before, and a digest of the deltas it accepted for its open round and for the next (`held`, in that
 * order). Its size does not depend on how many deltas a round has. A peer whose own digest for such a
 * round differs asks a few senders for their refs (`delta-refs-request`) and pulls what it lacks; one
 * whose model hash disagrees with the majority of its neighbours for the same round (current or past)
 * resynchronises its weights.
 */
export const AntiEntropySummary = z
  .object({
    type: z.literal('anti-entropy-summary'),
    version: Version,
    jobId: JobId,
    round: Round,
    modelSha256: Sha256Hex,
    pastModels: PastModels,
    held: z.tuple([HeldRound, HeldRound]),
    /** The sender's admission stamp: summaries of peers without one are not stored (nor pulled from). */
    admission: AdmissionStamp,
  })
  .strict();
export type AntiEntropySummary = z.infer<typeof AntiEntropySummary>;

/** Asks a summary's sender for the refs it holds for `rounds` (one or two, ascending). */
export const DeltaRefsRequest = z
  .object({
    type: z.literal('delta-refs-request'),
    version: Version,
    jobId: JobId,
    rounds: z.array(Round).min(1).max(2),
  })
  .strict()
  .refine((r) => r.rounds.length === 1 || r.rounds[0]! < r.rounds[1]!, {
    message: 'rounds must be ascending',
  });
export type DeltaRefsRequest = z.infer<typeof DeltaRefsRequest>;

/**
 * The answer to a delta-refs-request: the refs the responder holds for the asked rounds, sorted by round,
 * then author (code units), one per (round, author): one encoding per set, as `refSetDigest` hashes it.
 */
export const DeltaRefs = z
  .object({
    type: z.literal('delta-refs'),
    version: Version,
    jobId: JobId,
    refs: z.array(DeltaRef).max(PROTOCOL_LIMITS.maxSummaryEntries),
  })
  .strict()
  .refine(
    (m) =>
      m.refs.every(
        (r, i) =>
          i === 0 ||
          m.refs[i - 1]!.round < r.round ||
          (m.refs[i - 1]!.round === r.round && m.refs[i - 1]!.peer < r.peer),
      ),
    { message: 'refs must be sorted by round, then author, with no (round, author) twice' },
  );
export type DeltaRefs = z.infer<typeof DeltaRefs>;

/** Pulls specific deltas named in a delta-refs answer; the answer is one delta-announce frame per ref. */
export const DeltaPullRequest = z
  .object({
    type: z.literal('delta-pull'),
    version: Version,
    jobId: JobId,
    refs: z.array(DeltaRef).min(1).max(PROTOCOL_LIMITS.maxSummaryEntries),
  })
  .strict();
export type DeltaPullRequest = z.infer<typeof DeltaPullRequest>;

/**
 * Proof that `author` signed two different deltas for one round: both headers as the author signed them
 * (`authorSignature` covers `payloadSha256`, so no payload travels). The schema checks the shape — one
 * round, two payload digests in ascending order (one encoding per pair); every receiver checks the rest
 * itself (both headers of its job, both signatures by `author`): nobody takes the sender's word for it.
 */
export const EquivocationEvidence = z
  .object({
    type: z.literal('equivocation-evidence'),
    version: Version,
    jobId: JobId,
    /** The equivocating author's peer id: its embedded Ed25519 key verifies both signatures. */
    author: z.string().min(1).max(128),
    first: DeltaAnnouncement,
    second: DeltaAnnouncement,
  })
  .strict()
  .refine((e) => e.first.round === e.second.round, { message: 'both deltas must be for one round' })
  .refine((e) => e.first.payloadSha256 < e.second.payloadSha256, {
    message: 'the payload digests must differ, the lower one first',
  });
export type EquivocationEvidence = z.infer<typeof EquivocationEvidence>;

/** Every message that may appear as a frame header, told apart by its string `type`. */
export const Message = z.discriminatedUnion('type', [
  JobManifest,
  DeltaAnnouncement,
  Heartbeat,
  WeightSyncRequest,
  WeightSyncResponse,
  RoundRecord,
  AntiEntropySummary,
  DeltaRefsRequest,
  DeltaRefs,
  DeltaPullRequest,
  EquivocationEvidence,
]);
export type Message = z.infer<typeof Message>;
export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;
