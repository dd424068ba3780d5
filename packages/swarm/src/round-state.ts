/**
 * A peer's round state without the network: the shared model g_r and its momentum, the models of the last
 * `maxStaleness` rounds, the deltas accepted for the open round and the next one, and the merge that turns
 * them into g_{r+1}. Which deltas are accepted is decided by delta-verdict.ts, when a round closes by
 * round-rule.ts. Everything here is deterministic, so two peers that accepted the same deltas for every
 * round hold bitwise-identical weights and momentum.
 *
 * Dimension legend: P parameters, N deltas accepted in a round.
 */
import {
  maxDeltaPayloadBytes,
  trainableParamCount,
  type DecodedFrame,
  type DeltaAnnouncement,
  type DeltaRef,
  type JobManifest,
  type PastModels,
} from '@slimswarm/protocol';
import { AdmittedPeers } from './admission.js';
import { aggregate, compactDelta, heldDeltaBytes, nesterovStep, type HeldDelta } from './aggregate.js';
import { BoundedMap } from './bounded-map.js';
import {
  checkDelta,
  checkPayload,
  ignored,
  type HeldFromAuthor,
  type Refusal,
  type RoundView,
} from './delta-verdict.js';
import { Bans, buildEvidence, type BanTarget, type EquivocationEvidence } from './equivocation.js';
import { BaseModelMismatchError, ModelLayoutError } from './errors.js';
import { ModelLayout, compareCodeUnits, type Weights } from './model-layout.js';
import { PartialDeltas } from './partials.js';
import { SwarmTimings } from './peer-config.js';
import type { SwarmCounters } from './stats.js';
import type { ModelHistory } from './resync.js';
import { roundIsDue } from './round-rule.js';
import { modelSha256 } from './wire.js';

/** Signers remembered for the resync vote; the least recent are forgotten beyond it. */
const MAX_SIGNERS = 1024;

/** What became of one offered part: taken (the delta once complete), refused, or proof of equivocation. */
export type Verdict =
  | { action: 'accept'; completed: AcceptedDelta | null }
  | Refusal
  | { action: 'reject'; reason: 'equivocation'; evidence: EquivocationEvidence };

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

/**
 * How much this peer holds on behalf of others (peer-config.ts; the defaults when not given), and where it
 * counts what it drops to stay within that (a partial delta evicted: ignored as `evicted`).
 */
export interface HoldPolicy {
  timings: Pick<SwarmTimings, 'maxPartialBytes' | 'maxPeersTracked'>;
  counters: Pick<SwarmCounters, 'refused'>;
}

export interface RoundStateInit {
  manifest: JobManifest;
  layout: ModelLayout;
  /** Flat weights g_r (P); copied. */
  weights: Float32Array;
  /** Outer momentum (P); copied. Zeros when omitted. */
  momentum?: Float32Array;
  round?: number;
  /** Models of the rounds just before `round` (a weight sync names them): deltas based on them are valid. */
  pastModels?: PastModels;
  /** The job's banned authors (kept across resyncs; the replica shares them with its evidence topic). */
  bans?: Bans;
  /** Admitted authors (the replica shares them with liveness and anti-entropy); a cache of its own if omitted. */
  admitted?: AdmittedPeers;
  hold?: HoldPolicy;
}

export class RoundState implements RoundView, BanTarget {
  readonly manifest: JobManifest;
  readonly layout: ModelLayout;
  readonly bans: Bans;
  private readonly admitted: AdmittedPeers;
  private roundValue: number;
  private weightsValue: Float32Array; // [P] g_r
  private momentumValue: Float32Array; // [P] outer Nesterov momentum
  private shaValue: string;
  /** The last `maxStaleness` models before g_r, oldest first. */
  private past: PastModelHeld[];
  /** round -> author -> delta, for the open round and the next one (peers close a little apart). */
  private readonly accepted = new Map<number, Map<string, AcceptedDelta>>();
  /** Deltas whose parts are still arriving, bounded in bytes (partials.ts). */
  private readonly partial: PartialDeltas;
  /** The headers the last close merged, by author: another payload for that round proves equivocation. */
  private merged = { round: -1, headers: new Map<string, DeltaAnnouncement>() };
  /**
   * Highest round seen per author: gossipsub forgets duplicates after 2 minutes, this does not. Kept for
   * authors seen within the staleness window (an older round is refused as late anyway), at most
   * `maxPeersTracked` of them.
   */
  private readonly lastRoundByPeer: BoundedMap<string, number>;
  private readonly counters: HoldPolicy['counters'] | null;
  /** Authors whose delta signatures verified here, by the latest round: who is active (the resync vote). */
  private readonly signers = new Map<string, number>();
  /** When the open round, and the next, got their first delta: each round's deadline runs from there. */
  private openedAt: number | null = null;
  private nextOpenedAt: number | null = null;
  /** Bumped whenever `refs()` may change: anti-entropy hashes them again only then. */
  private refsChanges = 0;

  constructor(init: RoundStateInit) {
    // Every delta is decoded at the job's size: a replica of another size would refuse them all.
    const trainable = trainableParamCount(init.manifest);
    if (init.layout.size !== trainable) {
      throw new ModelLayoutError(`the job trains ${trainable} values, the layout holds ${init.layout.size}`);
    }
    this.manifest = init.manifest;
    this.layout = init.layout;
    this.roundValue = init.round ?? 0;
    this.weightsValue = Float32Array.from(init.weights);
    this.momentumValue = init.momentum
      ? Float32Array.from(init.momentum)
      : new Float32Array(init.layout.size);
    this.shaValue = modelSha256(this.layout, this.weightsValue);
    this.past = this.pastFromHashes(init.pastModels ?? []);
    this.bans = init.bans ?? new Bans();
    this.admitted = init.admitted ?? new AdmittedPeers(init.manifest);
    const limits = init.hold?.timings ?? SwarmTimings.parse({});
    this.counters = init.hold?.counters ?? null;
    // One largest delta always fits, or a job whose dense deltas exceed the cap could never assemble one.
    const partialBytes = Math.max(
      limits.maxPartialBytes,
      maxDeltaPayloadBytes(trainableParamCount(this.manifest)),
    );
    this.partial = new PartialDeltas(partialBytes);
    this.lastRoundByPeer = new BoundedMap(limits.maxPeersTracked);
  }

  /** Starts at round 0 from the job's base checkpoint; the weights must hash to the one it names. */
  static fromBase(
    manifest: JobManifest,
    initial: Weights,
    opts: {
      shapes?: Record<string, readonly number[]>;
      bans?: Bans;
      hold?: HoldPolicy;
      admitted?: AdmittedPeers;
      /** The weights are derived from the manifest, not the base checkpoint's (CreateReplicaOptions.start). */
      derived?: boolean;
    } = {},
  ): RoundState {
    const { shapes, bans, hold, admitted, derived } = opts;
    const layout = ModelLayout.fromWeights(initial, shapes);
    const weights = layout.flatten(initial);
    const sha = modelSha256(layout, weights);
    if (!derived && sha !== manifest.baseCheckpoint.sha256) {
      throw new BaseModelMismatchError(
        `initial weights hash to ${sha}, the manifest names ${manifest.baseCheckpoint.sha256}`,
      );
    }
    return new RoundState({ manifest, layout, weights, bans, hold, admitted });
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

  /** Where this peer is in the job's history, as the resync rule compares it. */
  history(): ModelHistory {
    return { round: this.roundValue, modelSha256: this.shaValue, pastModels: this.pastModels };
  }

  /**
   * Bytes held: the model, its momentum, the encoder residual and past models (f32 each), and the deltas
   * of the open rounds.
   */
  memoryBytes(): number {
    return this.layout.size * 4 * (3 + this.pastWeightsHeld) + this.heldBytes();
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
  knowsBase(round: number, sha: string): boolean {
    return this.modelAt(round)?.modelSha256 === sha;
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

  /**
   * Bytes of the deltas held for the open and the next round (decoded, and as received), and of the parts
   * of deltas still arriving.
   */
  heldBytes(): number {
    let bytes = this.partial.bytes;
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

  /** Changes whenever `refs()` may have changed (a delta held or dropped, the round moved). */
  get refsVersion(): number {
    return this.refsChanges;
  }

  /** When the open round started collecting (first delta seen or own publish); null while empty. */
  get roundOpenedAt(): number | null {
    return this.openedAt;
  }

  /**
   * Offers one part of `author`'s delta (a gossip part, or a whole payload pulled over a stream as part 0
   * of 1) to the verdict; returns the completed delta once every part has arrived and the payload passed.
   */
  offer(frame: DecodedFrame, author: string, now: number): Verdict {
    const v = checkDelta(frame, author, { manifest: this.manifest, admission: this.admitted, rounds: this });
    // Both verdicts come only after the author's signature verified (a delta on a base we lack still counts).
    if (v.action === 'accept' || v.reason === 'unknown-base')
      this.noteSigner(author, (frame.message as DeltaAnnouncement).round);
    if (v.action !== 'accept') {
      if (v.reason !== 'equivocation') return v;
      // Both headers verified, the one held and this one: drop both, ban the author, hand on the proof.
      const h = frame.message as DeltaAnnouncement;
      const evidence = buildEvidence(this.manifest.jobId, author, this.heldFrom(author, h.round)!.header, h);
      this.ban(evidence);
      return { action: 'reject', reason: 'equivocation', evidence };
    }
    const { header, part } = v;
    const { payload, evicted } = this.partial.add(author, header, part);
    for (const peer of evicted) this.counters?.refused(peer, ignored('evicted'));
    this.noteRound(author, header.round);
    if (!payload) return { action: 'accept', completed: null };
    const p = checkPayload(header, payload, this.manifest);
    if (p.action !== 'accept') return p;
    const d: AcceptedDelta = {
      peer: author,
      round: header.round,
      payloadSha256: header.payloadSha256,
      header: { ...header, part: { index: 0, count: 1 } },
      payload,
      delta: compactDelta(p.delta),
    };
    this.store(d, now);
    return { action: 'accept', completed: d };
  }

  /** Authors whose signed deltas for the last `rounds` rounds (or the next) verified here. */
  recentSigners(rounds: number): string[] {
    return [...this.signers].flatMap(([peer, r]) => (r >= this.roundValue - rounds ? [peer] : []));
  }

  private noteSigner(author: string, round: number): void {
    this.signers.delete(author); // re-inserted last: the map stays oldest first, and is cut there
    this.signers.set(author, round);
    for (const peer of this.signers.keys()) {
      if (this.signers.size <= MAX_SIGNERS) break;
      this.signers.delete(peer);
    }
  }

  private noteRound(author: string, round: number): void {
    this.lastRoundByPeer.set(author, Math.max(this.lastRoundByPeer.get(author) ?? 0, round));
  }

  lastRoundOf(author: string): number | undefined {
    return this.lastRoundByPeer.get(author);
  }

  isBanned(author: string): boolean {
    return this.bans.has(author);
  }

  /** Bans the evidence's author: its deltas in the open rounds, complete or partial, are never merged. */
  ban(e: EquivocationEvidence): boolean {
    for (const byPeer of this.accepted.values()) byPeer.delete(e.author);
    this.refsChanges++;
    for (const round of [this.roundValue, this.roundValue + 1]) this.partial.delete(e.author, round);
    return this.bans.add(e);
  }

  heldFrom(author: string, round: number): HeldFromAuthor | undefined {
    // A closed round: what its close merged (a resync back into that round starts it afresh).
    const closed = round < this.roundValue && round === this.merged.round;
    const done = closed ? this.merged.headers.get(author) : this.accepted.get(round)?.get(author)?.header;
    if (done) return { header: done, complete: true, hasPart: () => true };
    const partial = this.partial.get(author, round);
    if (!partial) return undefined;
    return { header: partial.header, complete: false, hasPart: (i) => partial.parts[i] !== undefined };
  }

  /** Records this peer's own delta (it never sees its own gossip). */
  addOwn(d: AcceptedDelta, now: number): void {
    this.noteRound(d.peer, d.round);
    this.store(d, now);
  }

  private store(d: AcceptedDelta, now: number): void {
    let byPeer = this.accepted.get(d.round);
    if (!byPeer) this.accepted.set(d.round, (byPeer = new Map()));
    byPeer.set(d.peer, d);
    this.refsChanges++;
    if (d.round === this.roundValue) this.openedAt ??= now;
    else this.nextOpenedAt ??= now;
  }

  /** Whether the open round is due to close with `activeContributors` known (round-rule.ts). */
  shouldClose(activeContributors: number, now: number): boolean {
    return roundIsDue(this.manifest.round, {
      accepted: this.acceptedCount(),
      openedAt: this.openedAt,
      activeContributors,
      now,
    });
  }

  /**
   * Merges the open round: deltas in canonical order (payload digest, then author), robust aggregate,
   * Nesterov step, next round. Deltas held for the next round whose base is not the new model are dropped
   * and returned so the caller can count them; `merged` are the deltas merged, in merge order (the log's record).
   */
  close(
    now: number,
  ): RoundClosed & { dropped: AcceptedDelta[]; merged: AcceptedDelta[]; baseModelSha256: string } {
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
    this.merged = { round: r, headers: new Map(deltas.map((d) => [d.peer, d.header])) };
    const baseModelSha256 = this.shaValue;
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
      if (!this.knowsBase(d.header.baseRound, d.header.baseModelSha256)) {
        next!.delete(d.peer);
        this.refsChanges++;
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
      baseModelSha256,
      dropped,
      merged: deltas,
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
    this.refsChanges++;
    this.openedAt = null;
    this.nextOpenedAt = null;
    for (const r of [...this.accepted.keys()]) if (r < round) this.accepted.delete(r);
    this.partial.dropBefore(round);
    // A delta for an earlier round is refused as late anyway; an author's highest round is kept through the
    // staleness window only, where a replay of its own old delta is still blamed on it as a replay.
    const window = this.manifest.round.maxStaleness + 1;
    this.lastRoundByPeer.dropWhere((last) => round - last > window);
  }
}
