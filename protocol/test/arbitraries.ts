/**
 * fast-check generators for every message and for tensors. They produce schema inputs, sometimes with
 * defaulted fields left out, so round trips also exercise default filling.
 */
import fc from 'fast-check';
import {
  DTYPES,
  DTYPE_BYTES,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  isFloatDType,
  jobIdFor,
  sortRefs,
} from '../src/index.js';
import type { DType, MessageInput, MessageType, Tensor } from '../src/index.js';

/** Doubles in [min, max] without -0 (canonical JSON writes -0 as 0, which is a different value). */
const double = (min: number, max: number, opts: { minExcluded?: boolean; maxExcluded?: boolean } = {}) =>
  fc.double({ min, max, noNaN: true, ...opts }).map((x) => x + 0);

const int = (min: number, max: number) => fc.integer({ min, max });
/** Integers in [0, max] for max beyond 32 bits. */
const bigNat = (max: number) => fc.maxSafeNat().map((n) => n % (max + 1));
const count = fc.maxSafeNat();
const sha256 = fc.stringMatching(/^[0-9a-f]{64}$/);
export const jobId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
const round = bigNat(PROTOCOL_LIMITS.maxRound);
const jobKey = fc.stringMatching(/^[0-9a-f]{64}$/);
/** A job id bound to its key: a name of up to 51 characters, `-`, the key's 12-character fingerprint. */
const boundJob = fc
  .record({ name: fc.stringMatching(/^[A-Za-z0-9._-]{1,51}$/), jobKey })
  .map(({ name, jobKey }) => ({ jobId: jobIdFor(name, jobKey), jobKey }));
const admissionPolicy = fc.oneof(
  fc.record({ mode: fc.constant('open' as const), difficultyBits: int(0, 40) }),
  fc.constant({ mode: 'invite' as const }),
);
const admissionStamp = fc.oneof(
  fc.record({ kind: fc.constant('pow' as const), nonce: fc.stringMatching(/^[0-9a-f]{16}$/) }),
  fc.record({ kind: fc.constant('ticket' as const), signature: fc.stringMatching(/^[0-9a-f]{128}$/) }),
);
const peerId = fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }).filter((s) => s.length <= 128);

/** A record whose `optional` keys are sometimes left out (zod fills in their defaults). */
function withDefaults<R extends Record<string, unknown>>(
  model: { [K in keyof R]: fc.Arbitrary<R[K]> },
  optional: (keyof R)[],
) {
  const requiredKeys = (Object.keys(model) as (keyof R)[]).filter((k) => !optional.includes(k));
  return fc.record(model, { requiredKeys });
}

const modelConfig = fc.record({ nHeads: int(1, 16), headHalf: int(1, 64) }).chain(({ nHeads, headHalf }) =>
  withDefaults(
    {
      dModel: fc.constant(nHeads * headHalf * 2),
      nLayers: int(1, 128),
      nHeads: fc.constant(nHeads),
      nFeatures: int(1, 8192),
      vocabSize: int(256, 1 << 20),
      mlpRatio: int(1, 16),
      ropeBase: double(1, 1e7, { minExcluded: true }),
      featureRedraw: fc.oneof(
        fc.constant({ kind: 'never' as const }),
        fc.record({ kind: fc.constant('every-steps' as const), steps: int(1, 1_000_000) }),
      ),
      seed: bigNat(2 ** 32 - 1),
    },
    ['ropeBase', 'featureRedraw'],
  ),
);

const aggregation = fc.oneof(
  fc.record({ rule: fc.constant('mean' as const), normBound: double(0, 1e6, { minExcluded: true }) }),
  fc.record({
    rule: fc.constantFrom('trimmed-mean' as const, 'sparse-trimmed-mean' as const),
    normBound: double(0, 1e6, { minExcluded: true }),
    trimFraction: double(0, 0.5, { maxExcluded: true }),
  }),
  fc.record(
    {
      rule: fc.constant('clipped-trimmed-mean' as const),
      normBound: double(0, 1e6, { minExcluded: true }),
      trimFraction: double(0, 0.5, { maxExcluded: true }),
      minTrim: int(0, 16),
      normClip: double(0, 100, { minExcluded: true }),
      valueClip: double(0, 100, { minExcluded: true }),
      minContributors: int(1, 64),
      minAgreement: double(-1, 1, { maxExcluded: true }),
    },
    { requiredKeys: ['rule', 'normBound', 'trimFraction'] },
  ),
  fc.record({
    rule: fc.constant('centered-clip' as const),
    normBound: double(0, 1e6, { minExcluded: true }),
    tau: double(0, 1e3, { minExcluded: true }),
    iterations: int(1, 100),
  }),
);

export const jobManifest = fc
  .record({
    type: fc.constant('job-manifest' as const),
    version: fc.constant(PROTOCOL_VERSION),
    admission: admissionPolicy,
    title: fc.string({ maxLength: 100, unit: 'binary' }).filter((s) => s.length <= 200),
    model: modelConfig,
    tokenizer: fc.constant({ kind: 'byte' as const }),
    baseCheckpoint: fc.record({
      sha256,
      bytes: bigNat(2 ** 40 - 1).map((n) => n + 1),
      params: int(1, PROTOCOL_LIMITS.maxParams),
    }),
    training: fc.record({
      seqLen: int(1, 1 << 24),
      chunkSize: int(1, 1 << 16),
      batchSize: int(1, 1024),
      localSteps: int(1, 1_000_000),
      inner: withDefaults(
        {
          kind: fc.constant('adamw' as const),
          lr: double(0, 1, { minExcluded: true }),
          beta1: double(0, 1, { maxExcluded: true }),
          beta2: double(0, 1, { maxExcluded: true }),
          eps: double(0, 1, { minExcluded: true }),
          weightDecay: double(0, 10),
          gradClip: double(0, 100),
        },
        ['beta1', 'beta2', 'eps', 'weightDecay', 'gradClip'],
      ),
    }),
    outer: fc.record({
      kind: fc.constant('nesterov' as const),
      lr: double(0, 10, { minExcluded: true }),
      momentum: double(0, 1, { maxExcluded: true }),
    }),
    compression: withDefaults(
      {
        codec: fc.constantFrom('dense-f32' as const, 'dense-f16' as const, 'topk-int8' as const),
        topkFraction: double(0, 1, { minExcluded: true }),
        errorFeedback: fc.boolean(),
      },
      ['topkFraction', 'errorFeedback'],
    ),
    aggregation,
    round: withDefaults(
      {
        quorumFraction: double(0, 1, { minExcluded: true }),
        deadlineMs: int(1, 24 * 3600 * 1000),
        minDeltas: int(1, PROTOCOL_LIMITS.maxPeersListed),
        peerTimeoutMs: int(1, 24 * 3600 * 1000),
        maxStaleness: int(0, PROTOCOL_LIMITS.maxStaleness),
      },
      ['maxStaleness'],
    ),
  })
  .chain((m) => boundJob.map((bound) => ({ ...m, ...bound })));

export const deltaAnnouncement = fc
  .record({
    type: fc.constant('delta-announce' as const),
    version: fc.constant(PROTOCOL_VERSION),
    jobId,
    round,
    baseModelSha256: sha256,
    stats: fc.record({ tokens: count, steps: count, meanLoss: double(0, 1e3) }),
    codec: fc.constantFrom('dense-f32' as const, 'dense-f16' as const, 'topk-int8' as const),
    payloadBytes: count,
    payloadSha256: sha256,
    authorSignature: fc.stringMatching(/^[0-9a-f]{128}$/),
    admission: admissionStamp,
    partDigests: fc.array(sha256, { minLength: 1, maxLength: 8 }),
  })
  // One of the signed slices, or the whole payload (a pull answer).
  .chain((d) =>
    fc
      .oneof(
        int(0, d.partDigests.length - 1).map((index) => ({ index, count: d.partDigests.length })),
        fc.constant({ index: 0, count: 1 }),
      )
      .map((part) => ({ ...d, part })),
  )
  // The base round is never after the round the delta joins.
  .chain((d) => bigNat(d.round).map((baseRound) => ({ ...d, baseRound })));

export const heartbeat = fc.record({
  type: fc.constant('heartbeat' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  role: fc.constantFrom('worker' as const, 'browser' as const, 'coordinator' as const, 'dashboard' as const),
  status: fc.constantFrom(
    'starting' as const,
    'syncing' as const,
    'training' as const,
    'merging' as const,
    'paused' as const,
    'idle' as const,
    'stopping' as const,
  ),
  round,
  modelSha256: fc.option(sha256, { nil: null }),
  step: count,
  tokensPerSec: double(0, 1e9),
  loss: fc.option(double(0, 1e3), { nil: null }),
  memoryBytes: count,
  connectedPeers: fc.array(peerId, { maxLength: 8 }),
  webRtcPeers: fc.array(peerId, { maxLength: 8 }),
  bytesIn: count,
  bytesOut: count,
  sentAt: count,
  admission: admissionStamp,
});

export const weightSyncRequest = fc.record({
  type: fc.constant('weight-sync-request' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  modelSha256: fc.option(sha256, { nil: null }),
  from: fc.record({ round, modelSha256: sha256 }),
});

export const weightSyncResponse = fc.record({
  type: fc.constant('weight-sync-response' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  status: fc.constantFrom('ok' as const, 'not-found' as const, 'busy' as const),
  round,
  modelSha256: fc.option(sha256, { nil: null }),
  records: count,
});

export const roundRecord = fc.record({
  type: fc.constant('round-record' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  round,
  baseModelSha256: sha256,
  modelSha256: sha256,
  authors: fc.uniqueArray(peerId, { maxLength: 8 }),
});

const deltaRef = fc.record({ round, peer: peerId, payloadSha256: sha256 });
const heldRound = fc.record({ count: fc.nat(PROTOCOL_LIMITS.maxSummaryEntries), digest: sha256 });

export const antiEntropySummary = fc.record({
  type: fc.constant('anti-entropy-summary' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  round,
  modelSha256: sha256,
  pastModels: fc.array(fc.record({ round, modelSha256: sha256 }), {
    maxLength: PROTOCOL_LIMITS.maxStaleness,
  }),
  held: fc.tuple(heldRound, heldRound),
  admission: admissionStamp,
});

export const deltaRefsRequest = fc.record({
  type: fc.constant('delta-refs-request' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  rounds: fc.uniqueArray(round, { minLength: 1, maxLength: 2 }).map((r) => r.sort((a, b) => a - b)),
});

export const deltaRefs = fc.record({
  type: fc.constant('delta-refs' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  refs: fc
    .uniqueArray(deltaRef, { maxLength: 8, selector: (r) => `${r.round}/${r.peer}` })
    .map((refs) => sortRefs(refs)),
});

export const deltaPull = fc.record({
  type: fc.constant('delta-pull' as const),
  version: fc.constant(PROTOCOL_VERSION),
  jobId,
  refs: fc.array(deltaRef, { minLength: 1, maxLength: 8 }),
});

/** Two headers of one job and round with different digests (the lower first), as one author signed them. */
export const equivocationEvidence = fc
  .record({ jobId, author: peerId, round, a: deltaAnnouncement, b: deltaAnnouncement })
  .filter(({ a, b }) => a.payloadSha256 !== b.payloadSha256)
  .map(({ jobId, author, round, a, b }) => {
    const [first, second] = [a, b]
      .sort((x, y) => (x.payloadSha256 < y.payloadSha256 ? -1 : 1))
      .map((d) => ({ ...d, jobId, round, baseRound: Math.min(d.baseRound, round) }));
    return {
      type: 'equivocation-evidence' as const,
      version: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
      jobId,
      author,
      first: first!,
      second: second!,
    };
  });

export const messagesByType: { [T in MessageType]: fc.Arbitrary<MessageInput & { type: T }> } = {
  'job-manifest': jobManifest,
  'delta-announce': deltaAnnouncement,
  heartbeat,
  'weight-sync-request': weightSyncRequest,
  'weight-sync-response': weightSyncResponse,
  'round-record': roundRecord,
  'anti-entropy-summary': antiEntropySummary,
  'delta-refs-request': deltaRefsRequest,
  'delta-refs': deltaRefs,
  'delta-pull': deltaPull,
  'equivocation-evidence': equivocationEvidence,
};

export const anyMessage: fc.Arbitrary<MessageInput> = fc.oneof(...Object.values(messagesByType));

/**
 * A tensor with random bytes; for float dtypes the second-highest bit of every element (the top exponent
 * bit but one) is cleared, so the exponent is never all ones and every value is finite.
 */
export function tensorOf(dtype: DType, maxDim = 6): fc.Arbitrary<Tensor> {
  return fc.array(int(0, maxDim), { maxLength: 4 }).chain((shape) => {
    const elements = shape.reduce((a, b) => a * b, 1);
    const size = DTYPE_BYTES[dtype];
    return fc.uint8Array({ minLength: elements * size, maxLength: elements * size }).map((data) => {
      if (isFloatDType(dtype)) for (let i = size - 1; i < data.length; i += size) data[i] = data[i]! & ~0x40;
      return { dtype, shape, data };
    });
  });
}

export const anyTensor: fc.Arbitrary<Tensor> = fc.constantFrom(...DTYPES).chain((dtype) => tensorOf(dtype));

export const tensorName = fc
  .string({ minLength: 1, maxLength: 24, unit: 'binary' })
  .filter((s) => s.length <= 200);

export const tensorSet: fc.Arbitrary<Record<string, Tensor>> = fc.dictionary(tensorName, anyTensor, {
  maxKeys: 6,
});
