/**
 * Every message the resource floods (flood-attacker.ts) send, built with our protocol package's own
 * encoders so that each one passes an honest peer's decoder and schema: an attack that fails the frame
 * checks measures nothing but the cheapest refusal. One function per message, so that a change of the
 * wire format (a new field in Heartbeat, AntiEntropySummary or DeltaAnnouncement) is made here and only
 * here. Protocol v4: every gossip message carries its sender's admission stamp, a delta header the
 * digest of each part, and weight sync moves round records, not weights:
 *
 *   partialPart        part 0 of a 2-part delta, a valid signed header, the largest payload the job
 *                      allows; the last part never comes, so every receiver holds the part until the
 *                      round it names is over
 *   trainingHeartbeat  a 'worker' that says `training` (the closing rule then waits for its delta)
 *   summary            an anti-entropy summary naming any (round, model, past models, delta refs)
 *   pullRequest        a delta pull naming the same held refs again and again, up to the summary limit
 *   weightSyncRequest  "send me the whole history, from the base"
 *   forgedHistory      a weight-sync answer leading to a model no honest peer computed: a first record
 *                      claiming it, which the asker's replay refuses
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  heldRounds,
  maxDeltaPayloadBytes,
  sha256Hex,
  tensorFromTyped,
  type AdmissionStamp,
  type AntiEntropySummary,
  type DeltaAnnouncement,
  type DeltaRef,
  type JobManifest,
  type PastModels,
  type RoundRecord,
  type WeightSyncResponse,
} from '@slimswarm/protocol';
import { ModelLayout, modelSha256, type Weights } from '@slimswarm/swarm';
import { signDeltaAs, type Sybil } from './sybils.js';

/** Room left in a gossip frame for the header and the tensor table. */
const FRAME_HEADROOM = 16 * 1024;

/** A random lower-case hex SHA-256-shaped string (a model or payload digest nobody holds). */
export function randomSha256(random: () => number): string {
  let s = '';
  for (let i = 0; i < 64; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

/** The payload size and part size of the largest 2-part delta this job's receivers accept. */
export function partialShape(manifest: JobManifest): { payloadBytes: number; partBytes: number } {
  const most = maxDeltaPayloadBytes(manifest.baseCheckpoint.params);
  const partBytes = Math.min(Math.ceil(most / 2), PROTOCOL_LIMITS.maxGossipFrameBytes - FRAME_HEADROOM);
  return { payloadBytes: Math.min(most, 2 * partBytes), partBytes };
}

/**
 * Part 0 of 2 of `sybil`'s delta for `round`, based on the model (baseRound, baseSha) honest peers hold:
 * a known base keeps the part acceptable while that round is open and the next, and no receiver can
 * check the payload before the missing part comes. The part's bytes are `part` (shared: its content is
 * never looked at).
 */
export async function partialPart(
  manifest: JobManifest,
  sybil: Sybil,
  at: { round: number; baseRound: number; baseSha: string; payloadSha256: string },
  part: Uint8Array,
): Promise<Uint8Array> {
  const { payloadBytes } = partialShape(manifest);
  const unsigned: Omit<DeltaAnnouncement, 'part' | 'authorSignature' | 'admission'> = {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    round: at.round,
    baseRound: at.baseRound,
    baseModelSha256: at.baseSha,
    stats: { tokens: 1024, steps: manifest.training.localSteps, meanLoss: 3 },
    codec: manifest.compression.codec,
    payloadBytes,
    payloadSha256: at.payloadSha256,
    // Part 0's digest is its own (it passes the part check); part 1's names bytes that never come.
    partDigests: [sha256Hex(part), at.payloadSha256],
  };
  const header = {
    ...unsigned,
    admission: sybil.admission,
    authorSignature: await signDeltaAs(sybil, unsigned),
    part: { index: 0, count: 2 },
  };
  return encodeFrame(header, { part: tensorFromTyped('u8', [part.length], part) });
}

/** A 'worker' heartbeat that says `training` at `round`: one more active trainer the round waits for. */
export function trainingHeartbeat(
  manifest: JobManifest,
  round: number,
  now: number,
  admission: AdmissionStamp,
): Uint8Array {
  return encodeFrame({
    type: 'heartbeat',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    role: 'worker',
    status: 'training',
    round,
    modelSha256: null,
    step: 0,
    tokensPerSec: 0,
    loss: null,
    memoryBytes: 0,
    connectedPeers: [],
    webRtcPeers: [],
    bytesIn: 0,
    bytesOut: 0,
    sentAt: now,
    admission,
  });
}

/** An anti-entropy summary: this peer is at (round, model) with these past models and holds `deltas` (by digest). */
export function summary(
  manifest: JobManifest,
  at: { round: number; modelSha256: string; pastModels?: PastModels; deltas?: DeltaRef[] },
  admission: AdmissionStamp,
): Uint8Array {
  const message: AntiEntropySummary = {
    type: 'anti-entropy-summary',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    round: at.round,
    modelSha256: at.modelSha256,
    pastModels: at.pastModels ?? [],
    held: heldRounds(at.round, (at.deltas ?? []).slice(0, PROTOCOL_LIMITS.maxSummaryEntries)),
    admission,
  };
  return encodeFrame(message);
}

/** `refs` cycled to the most a pull may name: each held ref is answered with the whole delta, every time. */
export function pullRequest(manifest: JobManifest, refs: readonly DeltaRef[]): Uint8Array {
  const n = PROTOCOL_LIMITS.maxSummaryEntries;
  return encodeFrame({
    type: 'delta-pull',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    refs: Array.from({ length: n }, (_, i) => refs[i % refs.length]!),
  });
}

/** Asks for the history from the base checkpoint: the most a responder can be made to send. */
export function weightSyncRequest(manifest: JobManifest, modelSha256: string | null): Uint8Array {
  return encodeFrame({
    type: 'weight-sync-request',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    modelSha256,
    from: { round: 0, modelSha256: manifest.baseCheckpoint.sha256 },
  });
}

/** A forged shared model: the base weights negated (finite, the right shapes, far from any honest model). */
export function forgedWeights(
  base: Weights,
  shapes: Record<string, readonly number[]>,
): {
  layout: ModelLayout;
  weights: Float32Array;
  modelSha256: string;
} {
  const layout = ModelLayout.fromWeights(base, shapes);
  const weights = layout.flatten(base).map((x) => -x);
  return { layout, weights, modelSha256: modelSha256(layout, weights) };
}

/**
 * The weight-sync answer that leads from the base to `forged` at `round`: its header, then a first record
 * claiming the forged model came out of round 0's merge of no delta at all. The asker's replay refuses it
 * at that record (every round merges at least the job's minDeltas).
 */
export function forgedHistory(
  manifest: JobManifest,
  forged: ReturnType<typeof forgedWeights>,
  at: { round: number },
): Uint8Array[] {
  const head: WeightSyncResponse = {
    type: 'weight-sync-response',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    status: 'ok',
    round: at.round,
    modelSha256: forged.modelSha256,
    records: at.round,
  };
  const record: RoundRecord = {
    type: 'round-record',
    version: PROTOCOL_VERSION,
    jobId: manifest.jobId,
    round: 0,
    baseModelSha256: manifest.baseCheckpoint.sha256,
    modelSha256: forged.modelSha256,
    authors: [],
  };
  return [encodeFrame(head), encodeFrame(record)];
}
