/**
 * This peer's own delta: Δ = g_b − w_local from its local steps, compressed with error feedback, signed,
 * and split into gossip parts. The same norm bound every receiver applies is checked here first.
 *
 * Dimension legend: P parameters.
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  partRange,
  type AdmissionStamp,
  tensorFromTyped,
  type ContributorStats,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { compactDelta } from './aggregate.js';
import type { ErrorFeedbackEncoder } from './codec.js';
import {
  AlreadyContributedError,
  DeltaNormExceededError,
  InvalidTrainerOutputError,
  PayloadTooLargeError,
  StaleContributionError,
} from './errors.js';
import { allFinite, l2Norm } from './model-layout.js';
import type { SwarmNetwork } from './network.js';
import type { AcceptedDelta, RoundState } from './round-state.js';
import type { DeltaSigner, UnsignedDelta } from './signature.js';
import { privatizeDelta, type NormalSource } from './private-delta.js';
import { encodeDeltaPayload, sha256Hex } from './wire.js';

export interface ContributionPart {
  header: DeltaAnnouncement;
  bytes: Uint8Array;
}

export interface ContributionInput {
  encoder: ErrorFeedbackEncoder;
  /** The author's peer id. */
  peer: string;
  /** The model the local steps started from; g_r when omitted. */
  base?: { round: number; sha256: string };
  /** Flat weights after the local steps (P). */
  localWeights: Float32Array;
  stats: ContributorStats;
  maxPartBytes: number;
  sign: DeltaSigner;
  /** The author's admission stamp, carried by every part (bound to the peer id, so not signed). */
  admission: AdmissionStamp;
  /** The privacy noise's source in a private job (default: the CSPRNG; tests pass a seeded one). */
  normals?: NormalSource;
}

/**
 * Builds this peer's delta for the open round r from local steps that started at model `base` (g_r, or an
 * earlier model within `maxStaleness`): Δ = g_b − w_local in f32 (in a private job clipped and noised),
 * compressed with error feedback, as
 * canonical payload bytes split into parts of at most `maxPartBytes`. The error-feedback residual is
 * updated only when this returns (the caller then publishes the parts).
 */
export function makeContribution(
  state: RoundState,
  input: ContributionInput,
): { delta: AcceptedDelta; parts: ContributionPart[] } {
  const { encoder, peer, localWeights, stats, maxPartBytes, sign, admission } = input;
  const base = input.base ?? { round: state.round, sha256: state.modelSha256 };
  const round = state.round;
  if (state.has(peer, round)) throw new AlreadyContributedError(`already contributed to round ${round}`);
  const g = state.baseWeights(base.round, base.sha256); // [P] g_b
  if (!g) throw new StaleContributionError(`round ${base.round}'s model cannot be a base for round ${round}`);
  if (localWeights.length !== g.length || !allFinite(localWeights)) {
    throw new InvalidTrainerOutputError('local weights do not fit the model or hold NaN/Inf');
  }
  const raw = new Float32Array(g.length); // [P] g_b − w_local
  for (let i = 0; i < g.length; i++) raw[i] = g[i]! - localWeights[i]!;
  // A private job's delta is clipped and noised first: the codec's data-dependent top-k then only
  // post-processes the private vector (private-delta.ts).
  const { privacy } = state.manifest;
  if (privacy) privatizeDelta(raw, privacy, input.normals);
  const { tensors, sent, commit } = encoder.encode(raw);
  // Every receiver applies the norm bound to what it decodes; so does the sender, or it would merge a
  // delta nobody else accepted.
  const norm = l2Norm(sent);
  if (norm > state.manifest.aggregation.normBound) {
    throw new DeltaNormExceededError(`delta norm ${norm} exceeds the manifest's bound`);
  }
  commit();
  const payload = encodeDeltaPayload(tensors);
  const payloadSha256 = sha256Hex(payload);
  const count = partCount(payload.length, maxPartBytes);
  const slices = Array.from({ length: count }, (_, index) => {
    const { start, end } = partRange(payload.length, count, index);
    return payload.subarray(start, end);
  });
  const unsigned: UnsignedDelta = {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: state.manifest.jobId,
    round,
    baseRound: base.round,
    baseModelSha256: base.sha256,
    // The mean loss is a function of the volunteer's text that no noise covers: a private job keeps it home.
    stats: privacy ? { ...stats, meanLoss: 0 } : stats,
    codec: state.manifest.compression.codec,
    payloadBytes: payload.length,
    payloadSha256,
    partDigests: slices.map((slice) => sha256Hex(slice)),
  };
  const signed: Omit<DeltaAnnouncement, 'part'> = { ...unsigned, admission, authorSignature: sign(unsigned) };
  const parts = slices.map((bytes, index) => ({ header: { ...signed, part: { index, count } }, bytes }));
  const delta: AcceptedDelta = {
    peer,
    round,
    payloadSha256,
    header: { ...signed, part: { index: 0, count: 1 } },
    payload,
    delta: compactDelta(sent),
  };
  return { delta, parts };
}

/** What one part digest adds to every part's header: 64 hex digits, two quotes and a comma. */
const DIGEST_HEADER_BYTES = 67;
/** The rest of a part's header and its tensor table (what maxPartBytes' default leaves of a frame). */
const HEADER_RESERVE_BYTES = 16 * 1024;

/**
 * How many gossip parts a payload is cut into: slices of at most `maxPartBytes`, and few enough that each
 * frame — its slice behind a header that lists every slice's digest — stays within the gossip limit.
 */
export function partCount(payloadBytes: number, maxPartBytes: number): number {
  for (let count = Math.max(1, Math.ceil(payloadBytes / maxPartBytes)); ; count++) {
    const room = PROTOCOL_LIMITS.maxGossipFrameBytes - HEADER_RESERVE_BYTES - DIGEST_HEADER_BYTES * count;
    if (Math.ceil(payloadBytes / count) <= Math.min(maxPartBytes, room)) return count;
    // Not for any payload a job accepts: maxDeltaPayloadBytes of maxParams takes about 1100 parts.
    if (room <= 0 || count >= PROTOCOL_LIMITS.maxDeltaParts)
      throw new PayloadTooLargeError(`a ${payloadBytes}-byte payload does not fit in gossip parts`);
  }
}

/** Publishes the parts on the delta topic; returns the frame bytes sent. */
export async function publishParts(
  net: SwarmNetwork,
  topic: string,
  parts: ContributionPart[],
): Promise<number> {
  let wireBytes = 0;
  for (const part of parts) {
    const frame = encodeFrame(part.header, { part: tensorFromTyped('u8', [part.bytes.length], part.bytes) });
    wireBytes += frame.length;
    await net.publish(topic, frame);
  }
  return wireBytes;
}
