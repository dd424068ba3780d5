/**
 * The round protocol without the network: which deltas a peer accepts, when its round closes, and how the
 * accepted deltas are merged into the next shared model. Everything here is deterministic, so two peers
 * that accepted the same deltas for every round hold bitwise-identical weights and momentum.
 *
 * Dimension legend: P parameters, N deltas accepted in a round.
 */
import {
  PROTOCOL_VERSION,
  isProtocolError,
  type ContributorStats,
  type DeltaAnnouncement,
  type DeltaRef,
  type JobManifest,
  type PastModels,
} from '@slimswarm/protocol';
import { aggregate, compactDelta, heldDeltaBytes, nesterovStep, type HeldDelta } from './aggregate.js';
import { decodeDelta, type ErrorFeedbackEncoder } from './codec.js';
import {
  DeltaDecodeError,
  DeltaNormExceededError,
  InvalidTrainerOutputError,
  StaleContributionError,
} from './errors.js';
import { allFinite, compareCodeUnits, l2Norm, type ModelLayout } from './model.js';
import { decodeDeltaPayload, encodeDeltaPayload, modelSha256, sha256Hex } from './wire.js';
import type { DeltaSigner, UnsignedDelta } from './signature.js';

/** Why a message was turned down. Every reason has its own counter in the stats. */
export const REJECT_REASONS = [
  'malformed',
  'oversize',
  'wrong-job',
  'wrong-codec',
  'wrong-round',
  'unknown-base',
  'non-finite',
  'norm-bound',
  'replay',
  'equivocation',
  'bad-digest',
  /** Counted from gossipsub, which checks StrictSign signatures before our validators run. */
  'bad-signature',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Reasons to drop a message without blaming the sender (honest peers can cause them). */
export const IGNORE_REASONS = ['late', 'newer-version', 'duplicate'] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

export type Verdict =
  | { action: 'accept'; completed: AcceptedDelta | null }
  | { action: 'ignore'; reason: IgnoreReason }
  | { action: 'reject'; reason: RejectReason };

/** One delta that passed every check, kept until its round closes (and served to anti-entropy pulls). */
export interface AcceptedDelta {
  peer: string;
  round: number;
  payloadSha256: string;
  /** The header as first announced (part 0 of 1 when re-served over a stream). */
  header: DeltaAnnouncement;
  /** Canonical payload bytes (what payloadSha256 hashes). */
  payload: Uint8Array;
  /** Decoded delta, dense (P) or sparse (top-k). */
  delta: HeldDelta;
}

export interface RoundClosed {
  /** The round that closed. */
  round: number;
  accepted: number;
  /** Contributors in merge order. */
  peers: string[];
  /** How many of the deltas were computed from an earlier round's model (see `maxStaleness`). */
  stale: number;
  /** Hash of the new shared model g_{round+1}. */
  modelSha256: string;
}

/** A shared model of an earlier round that deltas may still be based on (the job's `maxStaleness`). */
type PastModel = PastModels[number];

interface PastModelHeld extends PastModel {
  /** g_b (P), kept so this peer's own slow local steps can still become a delta; null if known by hash only. */
  weights: Float32Array | null;
}

interface PartialPayload {
  header: DeltaAnnouncement;
  parts: (Uint8Array | undefined)[];
  received: number;
}

export interface EngineInit {
  manifest: JobManifest;
  layout: ModelLayout;
  /** Flat weights g_r (P); copied. */
  weights: Float32Array;
  /** Outer momentum (P); copied. Zeros when omitted. */
  momentum?: Float32Array;
  round?: number;
  /** Models of the rounds just before `round` (a weight sync names them): deltas based on them are valid. */
  pastModels?: PastModels;
  /** Largest payload accepted, in bytes (the payload is the sum of all parts). */
  maxPayloadBytes: number;
}

export class RoundEngine {
  readonly manifest: JobManifest;
  readonly layout: ModelLayout;
  private readonly maxPayloadBytes: number;
  private roundValue: number;
  private weightsValue: Float32Array; // [P] g_r
  private momentumValue: Float32Array; // [P] outer Nesterov momentum
  private shaValue: string;
  /** The last `maxStaleness` models before g_r, oldest first. */
  private past: PastModelHeld[];
  /** round -> author -> delta, for the open round and the next one (peers close a little apart). */
  private readonly accepted = new Map<number, Map<string, AcceptedDelta>>();
  /** `${peer}/${round}` -> parts received so far. */
  private readonly partial = new Map<string, PartialPayload>();
  /** Highest round seen per author: gossipsub forgets duplicates after 2 minutes, this does not. */
  private readonly lastRoundByPeer = new Map<string, number>();
  /** When the open round, and the next, got their first delta: each round's deadline runs from there. */
  private openedAt: number | null = null;
  private nextOpenedAt: number | null = null;

  constructor(init: EngineInit) {
    this.manifest = init.manifest;
    this.layout = init.layout;
    this.maxPayloadBytes = init.maxPayloadBytes;
    this.roundValue = init.round ?? 0;
    this.weightsValue = Float32Array.from(init.weights);
    this.momentumValue = init.momentum
      ? Float32Array.from(init.momentum)
      : new Float32Array(init.layout.size);
    this.shaValue = modelSha256(this.layout, this.weightsValue);
    this.past = this.pastFromHashes(init.pastModels ?? []);
  }

  get round(): number {
    return this.roundValue;
  }
  get modelSha256(): string {
    return this.shaValue;
  }
  /** The shared model g_r (P); callers must not modify it. */
  get weights(): Float32Array {
    return this.weightsValue;
  }
  get momentum(): Float32Array {
    return this.momentumValue;
  }

  /** The models before g_r that deltas may still be based on, oldest first (for a weight sync). */
  get pastModels(): PastModels {
    return this.past.map(({ round, modelSha256 }) => ({ round, modelSha256 }));
  }

  /** Earlier models whose weights this peer keeps (each P floats). */
  get pastWeightsHeld(): number {
    return this.past.filter((p) => p.weights).length;
  }

  /**
   * The weights of model `sha` of round `round`, if a delta computed from it may still join the open
   * round and this peer holds them: g_r itself, or one of the last `maxStaleness` models.
   */
  baseWeights(round: number, sha: string): Float32Array | null {
    const m = this.modelAt(round);
    return m?.modelSha256 === sha ? m.weights : null;
  }

  /** A delta for the open round may be based on g_r or on one of the last `maxStaleness` models. */
  private knowsBase(h: DeltaAnnouncement): boolean {
    return this.modelAt(h.baseRound)?.modelSha256 === h.baseModelSha256;
  }

  /** The model of `round` as this peer knows it: g_r, or one of the last `maxStaleness` models. */
  private modelAt(round: number): PastModelHeld | undefined {
    if (round === this.roundValue) return { round, modelSha256: this.shaValue, weights: this.weightsValue };
    return this.past.find((m) => m.round === round);
  }

  private pastFromHashes(models: PastModels): PastModelHeld[] {
    const S = this.manifest.round.maxStaleness;
    return models
      .filter((m) => m.round < this.roundValue && m.round >= this.roundValue - S)
      .map((m) => ({ round: m.round, modelSha256: m.modelSha256, weights: null }));
  }

  /** Bytes of the deltas held for the open and the next round (decoded, and as received). */
  heldBytes(): number {
    let bytes = 0;
    for (const byPeer of this.accepted.values())
      for (const d of byPeer.values()) bytes += heldDeltaBytes(d.delta) + d.payload.byteLength;
    return bytes;
  }

  /** Deltas accepted for the open round. */
  acceptedCount(): number {
    return this.accepted.get(this.roundValue)?.size ?? 0;
  }

  has(peer: string, round: number): boolean {
    return this.accepted.get(round)?.has(peer) ?? false;
  }

  get(ref: DeltaRef): AcceptedDelta | undefined {
    const d = this.accepted.get(ref.round)?.get(ref.peer);
    return d?.payloadSha256 === ref.payloadSha256 ? d : undefined;
  }

  /** What this peer holds for the open and the next round, for anti-entropy summaries. */
  refs(): DeltaRef[] {
    const out: DeltaRef[] = [];
    for (const round of [this.roundValue, this.roundValue + 1]) {
      for (const d of this.accepted.get(round)?.values() ?? []) {
        out.push({ round, peer: d.peer, payloadSha256: d.payloadSha256 });
      }
    }
    return out;
  }

  /** When the open round started collecting (first delta seen or own publish); null while empty. */
  get roundOpenedAt(): number | null {
    return this.openedAt;
  }

  /**
   * Checks one gossip part (or a whole payload pulled over a stream, as part 0 of 1) from `peer`.
   * Returns the completed delta once every part has arrived and the payload passed every check.
   */
  offer(peer: string, header: DeltaAnnouncement, partBytes: Uint8Array, now: number): Verdict {
    const m = this.manifest;
    if (header.jobId !== m.jobId) return reject('wrong-job');
    if (header.codec !== m.compression.codec) return reject('wrong-codec');
    if (header.payloadBytes > this.maxPayloadBytes) return reject('oversize');
    const partSize = Math.ceil(header.payloadBytes / header.part.count);
    const expected =
      header.part.index < header.part.count - 1
        ? partSize
        : header.payloadBytes - partSize * (header.part.count - 1);
    if (expected <= 0 || partBytes.length !== expected) return reject('malformed');

    const last = this.lastRoundByPeer.get(peer);
    if (last !== undefined && header.round < last) return reject('replay');
    const done = this.accepted.get(header.round)?.get(peer);
    // The same delta again while its round is open is an anti-entropy pull racing the gossip: harmless.
    if (done)
      return done.payloadSha256 === header.payloadSha256 ? ignore('duplicate') : reject('equivocation');

    if (header.round < this.roundValue) return ignore('late');
    if (header.round > this.roundValue + 1) return reject('wrong-round');
    // Deltas for the next round are held until this round closes and their base becomes known.
    if (header.round === this.roundValue && !this.knowsBase(header)) return reject('unknown-base');

    const key = `${peer}/${header.round}`;
    let partial = this.partial.get(key);
    if (partial && !sameDelta(partial.header, header)) return reject('equivocation');
    if (!partial) {
      partial = { header, parts: new Array(header.part.count), received: 0 };
      this.partial.set(key, partial);
    }
    if (partial.parts[header.part.index]) return ignore('duplicate');
    partial.parts[header.part.index] = partBytes;
    partial.received++;
    this.lastRoundByPeer.set(peer, Math.max(last ?? 0, header.round));
    if (partial.received < header.part.count) return { action: 'accept', completed: null };

    this.partial.delete(key);
    const payload = concat(partial.parts as Uint8Array[], header.payloadBytes);
    if (sha256Hex(payload) !== header.payloadSha256) return reject('bad-digest');
    let delta: Float32Array;
    try {
      delta = decodeDelta(header.codec, decodeDeltaPayload(payload), this.layout.size);
    } catch (err) {
      if (isProtocolError(err) && err.name === 'NonFiniteTensorError') return reject('non-finite');
      if (isProtocolError(err) || err instanceof DeltaDecodeError) return reject('malformed');
      throw err;
    }
    if (!allFinite(delta)) return reject('non-finite');
    if (l2Norm(delta) > m.aggregation.normBound) return reject('norm-bound');
    const d: AcceptedDelta = {
      peer,
      round: header.round,
      payloadSha256: header.payloadSha256,
      header: { ...partial.header, part: { index: 0, count: 1 } },
      payload,
      delta: compactDelta(delta),
    };
    this.store(d, now);
    return { action: 'accept', completed: d };
  }

  /** Records this peer's own delta (it never sees its own gossip). */
  addOwn(d: AcceptedDelta, now: number): void {
    this.lastRoundByPeer.set(d.peer, Math.max(this.lastRoundByPeer.get(d.peer) ?? 0, d.round));
    this.store(d, now);
  }

  private store(d: AcceptedDelta, now: number): void {
    let byPeer = this.accepted.get(d.round);
    if (!byPeer) this.accepted.set(d.round, (byPeer = new Map()));
    byPeer.set(d.peer, d);
    if (d.round === this.roundValue) this.openedAt ??= now;
    else this.nextOpenedAt ??= now;
  }

  /**
   * The closing rule every peer applies: at least `minDeltas`, and either a quorum of the known active
   * contributors or the deadline since the round started collecting.
   */
  shouldClose(activeContributors: number, now: number): boolean {
    const n = this.acceptedCount();
    const policy = this.manifest.round;
    if (n < policy.minDeltas || this.openedAt === null) return false;
    const quorum = Math.max(policy.minDeltas, Math.ceil(policy.quorumFraction * activeContributors));
    return n >= quorum || now - this.openedAt >= policy.deadlineMs;
  }

  /**
   * Merges the open round: deltas in canonical order (payload digest, then author), robust aggregate,
   * Nesterov step, next round. Deltas held for the next round whose base is not the new model are dropped
   * and returned so the caller can count them.
   */
  close(now: number): RoundClosed & { dropped: AcceptedDelta[] } {
    const r = this.roundValue;
    const deltas = [...(this.accepted.get(r)?.values() ?? [])].sort(
      (a, b) => compareCodeUnits(a.payloadSha256, b.payloadSha256) || compareCodeUnits(a.peer, b.peer),
    );
    const agg = aggregate(
      this.manifest.aggregation,
      deltas.map((d) => d.delta),
      this.momentumValue,
      this.manifest.outer,
    );
    const S = this.manifest.round.maxStaleness;
    if (S > 0) {
      this.past.push({ round: r, modelSha256: this.shaValue, weights: Float32Array.from(this.weightsValue) });
      this.past = this.past.slice(-S);
    }
    nesterovStep(this.weightsValue, this.momentumValue, agg, this.manifest.outer);
    this.shaValue = modelSha256(this.layout, this.weightsValue);
    const nextOpenedAt = this.nextOpenedAt;
    this.advanceTo(r + 1);
    const dropped: AcceptedDelta[] = [];
    const next = this.accepted.get(r + 1);
    for (const d of next?.values() ?? []) {
      if (!this.knowsBase(d.header)) {
        next!.delete(d.peer);
        dropped.push(d);
      }
    }
    // Its deadline runs from when its first delta arrived, as on the peers that closed this round earlier.
    if ((next?.size ?? 0) > 0) this.openedAt = nextOpenedAt ?? now;
    return {
      round: r,
      accepted: deltas.length,
      peers: deltas.map((d) => d.peer),
      stale: deltas.filter((d) => d.header.baseRound < r).length,
      modelSha256: this.shaValue,
      dropped,
    };
  }

  /** Replaces the state with a model fetched from another peer (resync or late join). */
  adopt(round: number, weights: Float32Array, momentum: Float32Array, pastModels: PastModels): void {
    this.weightsValue = Float32Array.from(weights);
    this.momentumValue = Float32Array.from(momentum);
    this.shaValue = modelSha256(this.layout, this.weightsValue);
    this.accepted.clear();
    this.advanceTo(round);
    this.past = this.pastFromHashes(pastModels);
  }

  private advanceTo(round: number): void {
    this.roundValue = round;
    this.openedAt = null;
    this.nextOpenedAt = null;
    for (const r of [...this.accepted.keys()]) if (r < round) this.accepted.delete(r);
    for (const [key, p] of this.partial) if (p.header.round < round) this.partial.delete(key);
  }
}

function ignore(reason: IgnoreReason): Verdict {
  return { action: 'ignore', reason };
}

function reject(reason: RejectReason): Verdict {
  return { action: 'reject', reason };
}

function sameDelta(a: DeltaAnnouncement, b: DeltaAnnouncement): boolean {
  return (
    a.payloadSha256 === b.payloadSha256 &&
    a.payloadBytes === b.payloadBytes &&
    a.part.count === b.part.count &&
    a.baseRound === b.baseRound &&
    a.baseModelSha256 === b.baseModelSha256 &&
    a.codec === b.codec
  );
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

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
}

/**
 * Builds this peer's delta for the open round r from local steps that started at model `base` (g_r, or an
 * earlier model within `maxStaleness`): Δ = g_b − w_local in f32, compressed with error feedback, as
 * canonical payload bytes split into parts of at most `maxPartBytes`. The error-feedback residual is
 * updated only when this returns (the caller then publishes the parts).
 */
export function makeContribution(
  engine: RoundEngine,
  input: ContributionInput,
): { delta: AcceptedDelta; parts: ContributionPart[] } {
  const { encoder, peer, localWeights, stats, maxPartBytes, sign } = input;
  const base = input.base ?? { round: engine.round, sha256: engine.modelSha256 };
  const round = engine.round;
  const g = engine.baseWeights(base.round, base.sha256); // [P] g_b
  if (!g) throw new StaleContributionError(`round ${base.round}'s model cannot be a base for round ${round}`);
  if (localWeights.length !== g.length || !allFinite(localWeights)) {
    throw new InvalidTrainerOutputError('local weights do not fit the model or hold NaN/Inf');
  }
  const raw = new Float32Array(g.length); // [P] g_b − w_local
  for (let i = 0; i < g.length; i++) raw[i] = g[i]! - localWeights[i]!;
  const { tensors, sent, commit } = encoder.encode(raw);
  // Every receiver applies the norm bound to what it decodes; so does the sender, or it would merge a
  // delta nobody else accepted.
  const norm = l2Norm(sent);
  if (norm > engine.manifest.aggregation.normBound) {
    throw new DeltaNormExceededError(`delta norm ${norm} exceeds the manifest's bound`);
  }
  commit();
  const payload = encodeDeltaPayload(tensors);
  const payloadSha256 = sha256Hex(payload);
  const count = Math.max(1, Math.ceil(payload.length / maxPartBytes));
  const partSize = Math.ceil(payload.length / count);
  const unsigned: UnsignedDelta = {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: engine.manifest.jobId,
    round,
    baseRound: base.round,
    baseModelSha256: base.sha256,
    stats,
    codec: engine.manifest.compression.codec,
    payloadBytes: payload.length,
    payloadSha256,
  };
  const signed: Omit<DeltaAnnouncement, 'part'> = { ...unsigned, authorSignature: sign(unsigned) };
  const parts = Array.from({ length: count }, (_, index) => ({
    header: { ...signed, part: { index, count } },
    bytes: payload.subarray(index * partSize, Math.min(payload.length, (index + 1) * partSize)),
  }));
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
