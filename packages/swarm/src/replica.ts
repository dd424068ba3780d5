/**
 * A peer's replica of one job's shared model, and the boundary the volunteer loop uses:
 *
 *   const replica = await createSwarmReplica({ peer, manifest, initialWeights });   // + syncFromPeers: true
 *   const base = replica.current();                  // { round, sha256, weights } — copies
 *   const local = train(base.weights, H steps);       // the client's business
 *   await replica.contribute(base, local, stats);     // Δ = g_b − w_local, compressed, gossiped
 *   const next = await replica.nextRound();           // the merged g_{r+1} (or a resynced model)
 *
 * This file only wires the parts together, each in its own file: the delta verdict (delta-verdict.ts),
 * the round state and merge (round-state.ts), the closing rule (round-rule.ts), this peer's delta
 * (contribution.ts), liveness (liveness.ts), anti-entropy (anti-entropy.ts), bans of equivocating authors
 * (equivocation.ts), the history and syncs by replay (history-sync.ts) and the resync rule (resync.ts).
 * The network is the narrow SwarmNetwork (network.ts).
 */
import type { Logger } from '@libp2p/interface';
import {
  JobManifest,
  topics,
  type AdmissionStamp,
  type ContributorStats,
  type DecodedFrame,
  type PeerStatus,
} from '@slimswarm/protocol';
import { AdmittedPeers, ownStamp, type JobAdmission } from './admission.js';
import { AntiEntropy } from './anti-entropy.js';
import { ErrorFeedbackEncoder } from './codec.js';
import { makeContribution, publishParts } from './contribution.js';
import { decodeJobFrame, ignored, rejected } from './delta-verdict.js';
import { Bans, Equivocation, OwnDeltas } from './equivocation.js';
import { InvalidManifestError, NotStartedError } from './errors.js';
import type { SwarmEvents } from './events.js';
import { HistorySync, type Synced } from './history-sync.js';
import { Liveness, isTrainer, type TrainerProgress } from './liveness.js';
import { every } from './timed-spread.js';
import type { Weights } from './model-layout.js';
import type { GossipIn, GossipVerdict, SwarmNetwork } from './network.js';
import { PrivacyBudget, type PrivacySpent } from './privacy-budget.js';
import { chooseResyncTarget } from './resync.js';
import { RoundState, type Verdict } from './round-state.js';
import { RoundWaiters } from './round-waiters.js';
import type { SwarmStats } from './stats.js';

export type { TrainerProgress } from './liveness.js';

export interface ReplicaSnapshot {
  round: number;
  /** Model hash of `weights` (SHA-256 of their canonical safetensors). */
  sha256: string;
  /** A copy of the shared model g_r, by tensor name. */
  weights: Weights;
}

export interface ContributeResult {
  round: number;
  payloadSha256: string;
  /** Gossip frame bytes published (all parts). */
  wireBytes: number;
  parts: number;
}

export interface CreateReplicaOptions {
  /** A started libp2p node with the swarm service (createNodePeer / createBrowserPeer). */
  peer: { services: { swarm: SwarmNetwork } };
  manifest: unknown;
  /**
   * The base checkpoint's weights; must hash to manifest.baseCheckpoint.sha256. Always given: every sync
   * replays the job's history from a model this peer trusts, and the base is the first of them.
   */
  initialWeights: Weights;
  /**
   * 'base' (default): initialWeights are the base checkpoint's and must hash to the one the manifest
   * names. 'derived': they are what every peer derives from the manifest alone (a LoRA job's adapter
   * init; its frozen base is verified by the caller and never enters the replica), and round 0 is named
   * by their hash.
   */
  start?: 'base' | 'derived';
  /** Tensor shapes (from the manifest's model, never from a peer) when they are not 1-D. */
  shapes?: Record<string, readonly number[]>;
  /** Replay the current model from peers' history instead of starting at round 0 (late join or rejoin). */
  syncFromPeers?: boolean;
  /**
   * With syncFromPeers: how long to wait for a peer to announce a model (default: the stream timeout).
   * NoSyncSourceError when none did; the last sync error when some did and none could serve it.
   */
  joinTimeoutMs?: number;
  /**
   * This peer's admission stamp (a PoW minted for its peer id, or the job key's ticket). Omitted in an
   * open job, one is minted now (2^difficultyBits hashes); clients mint once and keep it with their key.
   */
  admission?: AdmissionStamp;
  signal?: AbortSignal;
  /**
   * In a private job: the deltas this volunteer published in earlier runs (its store keeps the count),
   * so the ε it reports goes on from there rather than from 0.
   */
  privacyReleases?: number;
}

type ResyncReason = 'join' | 'disagreement' | 'behind';

/** Joins the manifest's job at the base model, or (syncFromPeers) at the model the swarm replays to. */
export function createSwarmReplica(opts: CreateReplicaOptions): Promise<SwarmReplica> {
  return SwarmReplica.create(opts);
}

export class SwarmReplica {
  readonly events: SwarmEvents;
  private state: RoundState | null = null;
  private encoder: ErrorFeedbackEncoder | null = null;
  private readonly liveness: Liveness;
  private readonly antiEntropy: AntiEntropy;
  private readonly equivocation: Equivocation;
  private readonly own = new OwnDeltas();
  private readonly history: HistorySync;
  private readonly deltaTopic: string;
  private readonly log: { merge: Logger; sync: Logger };
  /** Stop functions of the tick and of the timed channels. */
  private readonly timers: (() => void)[] = [];
  private readonly leaveOnStop: () => void;
  private readonly waiters = new RoundWaiters<ReplicaSnapshot>();
  private syncing: Promise<void> | null = null;
  private roundSince = Date.now();
  private lastResyncCheck = 0;
  private stopped = false;
  private status: PeerStatus = 'starting';
  private progress: TrainerProgress = { step: 0, loss: null, tokensPerSec: 0 };
  /** Null outside private jobs. */
  private readonly budget: PrivacyBudget | null;

  static async create(opts: CreateReplicaOptions): Promise<SwarmReplica> {
    const parsed = JobManifest.safeParse(opts.manifest);
    if (!parsed.success) throw new InvalidManifestError(`invalid job manifest: ${parsed.error.message}`);
    const manifest = parsed.data;
    const net = opts.peer.services.swarm;
    const stamp = await ownStamp(manifest, net.selfId, opts.admission, opts.signal);
    const admission: JobAdmission = { stamp, peers: new AdmittedPeers(manifest) };
    const bans = new Bans(); // kept across resyncs: the round state and the evidence topic share it
    const init = {
      shapes: opts.shapes,
      bans,
      hold: net,
      admitted: admission.peers,
      derived: opts.start === 'derived',
    };
    const base = RoundState.fromBase(manifest, opts.initialWeights, init);
    const budget = manifest.privacy ? new PrivacyBudget(manifest.privacy, opts.privacyReleases) : null;
    const replica = new SwarmReplica(net, manifest, admission, base, bans, budget);
    if (!opts.syncFromPeers) {
      replica.start(base);
      return replica;
    }
    replica.start(null);
    try {
      await replica.joinBySync(opts.joinTimeoutMs ?? replica.net.timings.streamTimeoutMs, opts.signal);
    } catch (err) {
      await replica.stop();
      throw err;
    }
    return replica;
  }

  private constructor(
    private readonly net: SwarmNetwork,
    readonly manifest: JobManifest,
    /** Own stamp and the admitted peers: liveness, anti-entropy and the round state judge by the same cache. */
    private readonly admission: JobAdmission,
    base: RoundState,
    private readonly bans: Bans,
    budget: PrivacyBudget | null,
  ) {
    this.budget = budget;
    this.events = net.events;
    this.deltaTopic = topics.deltas(manifest.jobId);
    this.log = {
      merge: net.logger.forComponent('slimswarm:swarm:merge'),
      sync: net.logger.forComponent('slimswarm:swarm:sync'),
    };
    this.history = new HistorySync(
      net,
      manifest,
      {
        layout: base.layout,
        weights: base.weights,
        modelSha256: base.modelSha256,
        admitted: admission.peers,
      },
      net.timings.maxLogBytes,
      this.log.sync,
    );
    this.liveness = new Liveness(net, manifest, admission, () => this.heartbeatState());
    this.equivocation = new Equivocation(net, manifest, this.bans, () => this.state);
    this.antiEntropy = new AntiEntropy(net, manifest, admission, {
      rounds: () => this.ready(),
      offer: (frame, author, via) => this.offer(frame, author, via),
      remind: (author) => this.equivocation.remind(author),
      spread: () => this.liveness.spread(),
    });
    this.leaveOnStop = net.onStop(() => this.stop());
  }

  /** The shared model g_r (copies). */
  current(): ReplicaSnapshot {
    const s = this.requireState();
    return { round: s.round, sha256: s.modelSha256, weights: s.layout.view(Float32Array.from(s.weights)) };
  }

  /** Whether `peer` showed a stamp that admits it to the job (the resync rule's votes count only those). */
  isAdmitted(peer: string): boolean {
    return peer === this.net.selfId || this.admission.peers.isAdmitted(peer);
  }

  stats(): SwarmStats {
    return this.net.counters.snapshot();
  }

  /** Peers this replica counts as active contributors right now (itself included when it trains). */
  activeContributors(now = Date.now()): number {
    const s = this.state;
    const authors = s ? s.refs().flatMap((r) => (r.round === s.round ? [r.peer] : [])) : [];
    return this.liveness.activeContributors({ round: s?.round ?? 0, authors }, now, this.bans);
  }

  /**
   * A paused trainer says so in its heartbeats, so the closing rule stops counting it as an active
   * contributor and the others do not wait for its delta until their deadline.
   */
  setPaused(paused: boolean): void {
    if (this.stopped || !this.state || !isTrainer(this.net.role)) return;
    const status = paused ? 'paused' : 'training';
    if (this.status === status) return;
    this.status = status;
    void this.publishHeartbeat();
  }

  /** In a private job, what this volunteer's releases spent so far (heartbeats carry ε); else null. */
  privacySpent(): PrivacySpent | null {
    return this.budget?.spent() ?? null;
  }

  /** The trainer's own figures, which heartbeats carry to the dashboard (the swarm computes none). */
  reportProgress(progress: TrainerProgress): void {
    this.progress = { ...progress };
  }

  /**
   * Publishes Δ = base − localWeights to the open round. `base` is the snapshot the local steps started
   * from: if rounds closed since, the delta still joins while `base` is within the job's `maxStaleness`;
   * older, or resynced away, it is stale (StaleContributionError). Back in a round it already sent a
   * delta for (a resync), it sends none — a second would be an equivocation — and returns that one (0 parts).
   */
  async contribute(
    base: Pick<ReplicaSnapshot, 'round' | 'sha256'>,
    localWeights: Weights,
    stats: ContributorStats,
  ): Promise<ContributeResult> {
    const s = this.requireState();
    // The closing timer may be due but not yet run (a busy event loop): a round past its deadline is over.
    this.closeIfDue(Date.now());
    const round = s.round;
    // Sent before a resync replaced the model: a second delta for this round would be an equivocation.
    const sent = s.has(this.net.selfId, round) ? null : this.own.sentFor(round);
    if (sent !== null) {
      this.waiters.contributed(round);
      return { round, payloadSha256: sent, wireBytes: 0, parts: 0 };
    }
    const { delta, parts } = makeContribution(s, {
      encoder: this.encoder!,
      peer: this.net.selfId,
      base,
      localWeights: s.layout.flatten(localWeights),
      stats,
      maxPartBytes: this.net.timings.maxPartBytes,
      sign: this.net.signDelta,
      admission: this.admission.stamp,
    });
    // Counted before it goes out: a publish that fails half-way has released it all the same.
    this.budget?.released();
    s.addOwn(delta, Date.now());
    this.own.record(round, delta.payloadSha256);
    this.waiters.contributed(round);
    this.events.emit('delta:accepted', {
      peer: this.net.selfId,
      round,
      payloadSha256: delta.payloadSha256,
      via: 'self',
    });
    const wireBytes = await publishParts(this.net, this.deltaTopic, parts);
    this.log.merge('published round %d delta in %d parts (%d bytes)', round, parts.length, wireBytes);
    return { round: delta.round, payloadSha256: delta.payloadSha256, wireBytes, parts: parts.length };
  }

  /**
   * Resolves with the next model: once the round of this peer's latest contribution has closed (at once
   * if it already has — a lone or last contributor closes its round while contribute() is still
   * publishing), otherwise at the next merge; at any resync.
   */
  nextRound(signal?: AbortSignal): Promise<ReplicaSnapshot> {
    return this.waiters.wait(this.state?.round ?? null, () => this.current(), signal);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.status = 'stopping';
    for (const stop of this.timers) stop();
    this.leaveOnStop();
    this.net.unsubscribe(this.deltaTopic);
    this.net.serve('weightSync', null);
    for (const part of [this.liveness, this.equivocation, this.antiEntropy]) part.stop();
  }

  /** Subscribes and serves, starts the timers. `state` is null while a joining peer syncs. */
  private start(state: RoundState | null): void {
    this.net.subscribe(this.deltaTopic, (msg) => this.onDelta(msg));
    this.net.serve(
      'weightSync',
      this.history.serve(() => this.ready()),
    );
    for (const part of [this.liveness, this.equivocation, this.antiEntropy]) part.start();
    const { tickMs, heartbeatIntervalMs, antiEntropyIntervalMs } = this.net.timings;
    // The timed channels slow down as the swarm grows (timed-spread.ts).
    const spread = (ms: number) => () => ms * this.liveness.spread();
    this.timers.push(
      every(
        () => this.tick(),
        () => tickMs,
      ),
    );
    this.timers.push(every(() => void this.publishHeartbeat(), spread(heartbeatIntervalMs)));
    this.timers.push(every(() => void this.publishSummary(), spread(antiEntropyIntervalMs)));
    if (state) this.install(state);
    void this.publishHeartbeat();
  }

  private install(state: RoundState): void {
    this.state = state;
    this.encoder = new ErrorFeedbackEncoder(state.layout.size, this.manifest.compression);
    this.status = isTrainer(this.net.role) ? 'training' : 'idle';
    this.roundSince = Date.now();
  }

  /** The round state deltas are judged against: none before the model arrives or while syncing. */
  private ready(): RoundState | null {
    return this.syncing ? null : this.state;
  }

  private requireState(): RoundState {
    if (!this.state || this.stopped) throw new NotStartedError('the replica has no model yet or was stopped');
    return this.state;
  }

  private onDelta(msg: GossipIn): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'delta-announce');
    if (!('frame' in decoded)) return decoded;
    // A joining or resyncing peer cannot judge deltas against a model it is replacing.
    if (!this.ready()) return ignored('not-ready');
    const v = this.offer(decoded.frame, msg.from, 'gossip');
    return v.action === 'accept' ? { action: 'accept' } : v;
  }

  private offer(frame: DecodedFrame, author: string, via: 'gossip' | 'pull'): Verdict {
    const v = this.state!.offer(frame, author, Date.now());
    if ('evidence' in v) return this.equivocation.detected(v.evidence);
    if (v.action === 'accept' && v.completed) {
      const { round, payloadSha256 } = v.completed;
      this.net.counters.accepted();
      this.events.emit('delta:accepted', { peer: author, round, payloadSha256, via });
      this.log.merge('accepted round %d delta from %s via %s', round, author, via);
    }
    return v;
  }

  /** The closing rule, then (every anti-entropy period) the resync rule. */
  private tick(): void {
    const s = this.ready();
    if (!s || this.stopped) return;
    const now = Date.now();
    this.closeIfDue(now);
    if (now - this.lastResyncCheck < this.net.timings.antiEntropyIntervalMs) return;
    this.lastResyncCheck = now;
    // Only active authors vote (history-sync.ts): fresh keys, however many, do not.
    const votes = this.history.voters(s);
    const target = chooseResyncTarget({
      ...s.history(),
      views: new Map([...this.antiEntropy.views].filter(([peer]) => votes(peer))),
      now,
      freshMs: this.liveness.freshMs(),
      roundAgeMs: now - this.roundSince,
      stuckAfterMs:
        this.manifest.round.deadlineMs + 2 * this.net.timings.antiEntropyIntervalMs * this.liveness.spread(),
    });
    if (!target) return;
    this.log.sync('resync (%s) to round %d %s', target.reason, target.round, target.modelSha256);
    this.syncing = this.history
      .resync(target.peers, target.modelSha256, s, target.reason === 'disagreement')
      .then((synced) => this.adopt(synced, target.reason))
      .catch((err) => this.log.sync.error('resync failed: %e', err))
      .finally(() => (this.syncing = null));
  }

  private closeIfDue(now: number): void {
    const s = this.ready();
    if (s && s.shouldClose(this.activeContributors(now), now)) this.closeRound(s, now);
  }

  private closeRound(s: RoundState, now: number): void {
    const mergeStarted = performance.now();
    const { dropped, merged, baseModelSha256, ...closed } = s.close(now);
    const mergeMs = performance.now() - mergeStarted;
    this.history.recordClose({ ...closed, baseModelSha256, merged });
    for (const d of dropped) this.net.counters.refused(d.peer, rejected('unknown-base'));
    this.net.counters.round('closed');
    this.log.merge('closed round %d with %d deltas -> %s', closed.round, closed.accepted, closed.modelSha256);
    this.events.emit('round:closed', { ...closed, durationMs: now - this.roundSince, mergeMs });
    this.opened(now, false);
  }

  private opened(now: number, resynced: boolean): void {
    const s = this.state!;
    this.roundSince = now;
    this.events.emit('round:opened', { round: s.round, modelSha256: s.modelSha256 });
    this.waiters.opened(s.round, resynced, () => this.current());
  }

  /** Takes the model a replayed history led to (its log is the history's already). */
  private adopt({ replay, from }: Synced, reason: ResyncReason): void {
    const m = replay.state;
    if (this.state) this.state.adopt(m.round, m.weights, m.momentum, m.pastModels);
    else
      this.install(
        new RoundState({
          ...m.history(),
          manifest: this.manifest,
          layout: m.layout,
          weights: m.weights,
          momentum: m.momentum,
          bans: this.bans,
          admitted: this.admission.peers,
          hold: this.net,
        }),
      );
    // The residual belongs to the old model's deltas.
    this.encoder!.reset();
    this.net.counters.round('resync');
    this.events.emit('resync', { from, round: m.round, modelSha256: m.modelSha256, reason });
    this.log.sync('synced round %d %s from %s (%s)', m.round, m.modelSha256, from, reason);
    this.opened(Date.now(), this.own.sentFor(m.round) === null); // else nextRound() waits for that round
  }

  /** Late join: wait for the first summaries, then replay to the best supported model (history-sync.ts). */
  private async joinBySync(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.status = 'syncing';
    const pollMs = Math.min(500, this.net.timings.antiEntropyIntervalMs);
    this.adopt(await this.history.join(this.antiEntropy.views, timeoutMs, pollMs, signal), 'join');
  }

  private heartbeatState() {
    const s = this.state;
    return {
      status: this.stopped ? ('stopping' as const) : this.syncing || !s ? ('syncing' as const) : this.status,
      round: s?.round ?? 0,
      modelSha256: s?.modelSha256 ?? null,
      memoryBytes: (s?.memoryBytes() ?? 0) + this.history.memoryBytes(),
      progress: this.progress,
      ...(this.budget ? { epsilon: this.budget.spent().epsilon } : {}),
    };
  }

  private async publishHeartbeat(): Promise<void> {
    if (this.stopped) return;
    await this.liveness.publish().catch((err) => this.log.merge.error('heartbeat failed: %e', err));
  }

  private async publishSummary(): Promise<void> {
    if (this.stopped) return;
    await this.antiEntropy.publish().catch((err) => this.log.sync.error('summary failed: %e', err));
    // Once a period, as the summary goes out: ask the few neighbours whose digests differ for their refs.
    this.antiEntropy.reconcile();
  }
}
