/**
 * A peer's replica of one job's shared model, and the boundary the volunteer loop uses:
 *
 *   const replica = await createSwarmReplica({ peer, manifest, initialWeights });   // or syncFromPeers: true
 *   const base = replica.current();                  // { round, sha256, weights } — copies
 *   const local = train(base.weights, H steps);       // the client's business
 *   await replica.contribute(base, local, stats);     // Δ = g_r − w_local, compressed, gossiped
 *   const next = await replica.nextRound();           // the merged g_{r+1} (or a resynced model)
 *
 * Inside: gossip validators feed the RoundEngine, a timer applies the closing rule, anti-entropy
 * summaries pull missing deltas and detect disagreement, and the weight-sync stream repairs it.
 */
import type { Message as GossipMessage } from '@libp2p/gossipsub';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { Logger, PeerId, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import {
  JobManifest,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  isProtocolError,
  tensorFromTyped,
  topics,
  type AntiEntropySummary,
  type ContributorStats,
  type DeltaRef,
  type Heartbeat,
  type Message,
  type MessageInput,
  type PeerStatus,
  type Tensor,
} from '@slimswarm/protocol';
import { ErrorFeedbackEncoder } from './codec.js';
import {
  RoundEngine,
  makeContribution,
  type IgnoreReason,
  type RejectReason,
  type Verdict,
} from './engine.js';
import {
  AlreadyContributedError,
  BaseModelMismatchError,
  DeltaPullError,
  InvalidManifestError,
  NoSyncSourceError,
  NotStartedError,
  WeightSyncError,
} from './errors.js';
import type { SwarmEvents } from './events.js';
import { verifyDeltaAuthor } from './signature.js';
import { ModelLayout, type Weights } from './model.js';
import { chooseResyncTarget, mostAnnounced, type PeerView } from './resync.js';
import type { DeltaGossip, SwarmStats } from './service.js';
import { decodeModelState, encodeModelState, modelSha256 } from './wire.js';

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

/** What a trainer reports for its heartbeats. */
export interface TrainerProgress {
  /** Local steps taken so far. */
  step: number;
  /** Mean loss of the latest local steps, or null before the first. */
  loss: number | null;
  tokensPerSec: number;
}

export interface CreateReplicaOptions {
  /** A started libp2p node with the swarm service (createNodePeer / createBrowserPeer). */
  peer: { services: { swarm: DeltaGossip } };
  manifest: unknown;
  /** The base checkpoint's weights; must hash to manifest.baseCheckpoint.sha256. */
  initialWeights?: Weights;
  /** Tensor shapes when they are not 1-D (default: each tensor flat). */
  shapes?: Record<string, readonly number[]>;
  /** Fetch the current model from peers instead (late join or rejoin). */
  syncFromPeers?: boolean;
  /**
   * With syncFromPeers: how long to wait for a peer to announce a model (default: the stream timeout).
   * NoSyncSourceError when none did; the last sync error when some did and none could serve it.
   */
  joinTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Joins the manifest's job. Exactly one of initialWeights / syncFromPeers. */
export async function createSwarmReplica(opts: CreateReplicaOptions): Promise<SwarmReplica> {
  const parsed = JobManifest.safeParse(opts.manifest);
  if (!parsed.success) throw new InvalidManifestError(`invalid job manifest: ${parsed.error.message}`);
  const swarm = opts.peer.services.swarm;
  const replica = new SwarmReplica(swarm, parsed.data);
  if (opts.initialWeights && !opts.syncFromPeers) {
    const layout = ModelLayout.fromWeights(opts.initialWeights, opts.shapes);
    const weights = layout.flatten(opts.initialWeights);
    const sha = modelSha256(layout, weights);
    if (sha !== parsed.data.baseCheckpoint.sha256) {
      throw new BaseModelMismatchError(
        `initial weights hash to ${sha}, the manifest names ${parsed.data.baseCheckpoint.sha256}`,
      );
    }
    replica.start(
      new RoundEngine({ manifest: parsed.data, layout, weights, maxPayloadBytes: maxPayloadBytes(layout) }),
    );
    return replica;
  }
  if (!opts.syncFromPeers) throw new InvalidManifestError('pass initialWeights or syncFromPeers: true');
  replica.start(null);
  try {
    await replica.joinBySync(opts.joinTimeoutMs, opts.signal);
  } catch (err) {
    await replica.stop();
    throw err;
  }
  return replica;
}

/** Largest acceptable payload: a dense f32 delta plus container overhead. */
function maxPayloadBytes(layout: ModelLayout): number {
  return layout.size * 4 + 64 * 1024;
}

const TRAINER_ROLES = new Set(['worker', 'browser']);

export class SwarmReplica {
  readonly manifest: JobManifest;
  readonly events: SwarmEvents;
  private engine: RoundEngine | null = null;
  private encoder: ErrorFeedbackEncoder | null = null;
  private readonly topic: { deltas: string; heartbeat: string; summaries: string };
  private readonly selfId: string;
  private readonly log: { merge: Logger; sync: Logger; gossip: Logger; antiEntropy: Logger };
  /** Latest (round, model) each neighbour announced. */
  private readonly views = new Map<string, PeerView>();
  /** Last heartbeat per peer, and when it came. */
  private readonly heartbeats = new Map<string, { hb: Heartbeat; at: number }>();
  private readonly pulling = new Set<string>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private waiters: ((s: ReplicaSnapshot) => void)[] = [];
  private syncing: Promise<void> | null = null;
  private roundSince = Date.now();
  private lastResyncCheck = 0;
  private stopped = false;
  private status: PeerStatus = 'starting';
  /** What the trainer last reported (reportProgress), published in heartbeats. */
  private progress: TrainerProgress = { step: 0, loss: null, tokensPerSec: 0 };
  /** Round of the latest contribution not yet followed by nextRound(). */
  private contributedRound: number | null = null;

  constructor(
    private readonly swarm: DeltaGossip,
    manifest: JobManifest,
  ) {
    this.manifest = manifest;
    this.events = swarm.events;
    this.topic = {
      deltas: topics.deltas(manifest.jobId),
      heartbeat: topics.heartbeat(manifest.jobId),
      summaries: topics.summaries(manifest.jobId),
    };
    this.selfId = swarm.components.peerId.toString();
    const base = swarm.components.logger;
    this.log = {
      merge: base.forComponent('slimswarm:swarm:merge'),
      sync: base.forComponent('slimswarm:swarm:sync'),
      gossip: base.forComponent('slimswarm:swarm:gossip'),
      antiEntropy: base.forComponent('slimswarm:swarm:anti-entropy'),
    };
  }

  /** Subscribes, installs validators and timers. `engine` is null while a joining peer syncs. */
  start(engine: RoundEngine | null): void {
    const pubsub = this.swarm.pubsub;
    this.swarm.attach(this);
    pubsub.topicValidators.set(this.topic.deltas, (_from, msg) => this.onDelta(msg));
    pubsub.topicValidators.set(this.topic.heartbeat, (_from, msg) => this.onHeartbeat(msg));
    pubsub.topicValidators.set(this.topic.summaries, (_from, msg) => this.onSummary(msg));
    for (const t of Object.values(this.topic)) pubsub.subscribe(t);
    const { tickMs, heartbeatIntervalMs, antiEntropyIntervalMs } = this.swarm.timings;
    this.timers.push(setInterval(() => this.tick(), tickMs));
    this.timers.push(setInterval(() => void this.publishHeartbeat(), heartbeatIntervalMs));
    this.timers.push(setInterval(() => void this.publishSummary(), antiEntropyIntervalMs));
    if (engine) this.install(engine);
    void this.publishHeartbeat();
  }

  /**
   * A paused trainer says so in its heartbeats, so the closing rule stops counting it as an active
   * contributor and the others do not wait for its delta until their deadline.
   */
  setPaused(paused: boolean): void {
    if (this.stopped || !this.engine || !TRAINER_ROLES.has(this.swarm.role)) return;
    const status = paused ? 'paused' : 'training';
    if (this.status === status) return;
    this.status = status;
    void this.publishHeartbeat();
  }

  /** The trainer's own figures, which heartbeats carry to the dashboard (the swarm computes none). */
  reportProgress(progress: TrainerProgress): void {
    this.progress = { ...progress };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.status = 'stopping';
    for (const t of this.timers) clearInterval(t);
    this.swarm.attach(null);
    const pubsub = this.swarm.components.pubsub;
    if (pubsub) {
      for (const t of Object.values(this.topic)) {
        pubsub.topicValidators.delete(t);
        try {
          if (pubsub.getTopics().includes(t)) pubsub.unsubscribe(t);
        } catch (err) {
          // libp2p stops its services concurrently: gossipsub may already be down, with nothing left to undo.
          this.log.gossip('unsubscribe from %s skipped: %e', t, err);
        }
      }
    }
  }

  /** The shared model g_r (copies). */
  current(): ReplicaSnapshot {
    const e = this.requireEngine();
    return { round: e.round, sha256: e.modelSha256, weights: e.layout.view(Float32Array.from(e.weights)) };
  }

  stats(): SwarmStats {
    return this.swarm.stats();
  }

  /** Peers this replica counts as active contributors right now (itself included when it trains). */
  activeContributors(now = Date.now()): number {
    const e = this.engine;
    const fresh = new Set<string>();
    for (const [peer, { hb, at }] of this.heartbeats) {
      if (
        now - at <= this.manifest.round.peerTimeoutMs &&
        TRAINER_ROLES.has(hb.role) &&
        hb.status === 'training'
      ) {
        fresh.add(peer);
      }
    }
    if (e) for (const ref of e.refs()) if (ref.round === e.round) fresh.add(ref.peer);
    if (TRAINER_ROLES.has(this.swarm.role)) fresh.add(this.selfId);
    return fresh.size;
  }

  /**
   * Publishes Δ = base − localWeights to the open round. `base` is the snapshot the local steps started
   * from: if rounds closed since, the delta still joins while `base` is within the job's `maxStaleness`;
   * older, or resynced away, it is stale (StaleContributionError).
   */
  async contribute(
    base: Pick<ReplicaSnapshot, 'round' | 'sha256'>,
    localWeights: Weights,
    stats: ContributorStats,
  ): Promise<ContributeResult> {
    const e = this.requireEngine();
    // The closing timer may be due but not yet run (a busy event loop): a round past its deadline is over.
    this.closeIfDue(Date.now());
    const round = e.round;
    if (e.has(this.selfId, round)) throw new AlreadyContributedError(`already contributed to round ${round}`);
    const now = Date.now();
    const { delta, parts } = makeContribution(e, {
      encoder: this.encoder!,
      peer: this.selfId,
      base,
      localWeights: e.layout.flatten(localWeights),
      stats,
      maxPartBytes: this.swarm.timings.maxPartBytes,
      sign: this.swarm.signDelta,
    });
    e.addOwn(delta, now);
    this.contributedRound = round;
    this.events.emit('delta:accepted', {
      peer: this.selfId,
      round,
      payloadSha256: delta.payloadSha256,
      via: 'self',
    });
    let wireBytes = 0;
    for (const part of parts) {
      const frame = encodeFrame(part.header, {
        part: tensorFromTyped('u8', [part.bytes.length], part.bytes),
      });
      wireBytes += frame.length;
      await this.swarm.pubsub.publish(this.topic.deltas, frame);
    }
    this.swarm.countBytes(0, wireBytes);
    this.log.gossip(
      'published round %d delta %s in %d parts (%d bytes)',
      round,
      delta.payloadSha256,
      parts.length,
      wireBytes,
    );
    return { round: delta.round, payloadSha256: delta.payloadSha256, wireBytes, parts: parts.length };
  }

  /**
   * Resolves with the next model: once the round of this peer's latest contribution has closed (at once
   * if it already has — a lone or last contributor closes its round while contribute() is still
   * publishing), otherwise at the next merge; at any resync.
   */
  nextRound(signal?: AbortSignal): Promise<ReplicaSnapshot> {
    const contributed = this.contributedRound;
    if (contributed !== null && this.engine && this.engine.round > contributed) {
      this.contributedRound = null;
      return Promise.resolve(this.current());
    }
    return new Promise((resolve, reject) => {
      const done = (s: ReplicaSnapshot) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Gossip validators: every message is decoded, checked and applied here, once; Reject feeds scoring.
  // ---------------------------------------------------------------------------------------------------

  private decode(msg: GossipMessage, type: Message['type']) {
    this.swarm.countBytes(msg.data.length, 0);
    const from = msg.type === 'signed' ? msg.from.toString() : 'unsigned';
    try {
      const frame = decodeFrame(msg.data, {
        maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes,
        jobId: this.manifest.jobId,
      });
      if (frame.message.type !== type) return { from, verdict: rejected('malformed') };
      return { from, frame };
    } catch (err) {
      return { from, verdict: verdictOfDecodeError(err) };
    }
  }

  private answer(from: string, v: Verdict): TopicValidatorResult {
    if (v.action === 'accept') return TopicValidatorResult.Accept;
    this.swarm.countVerdict(from, v);
    this.log.gossip('%s from %s: %s', v.action, from, v.reason);
    return v.action === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore;
  }

  private onDelta(msg: GossipMessage): TopicValidatorResult {
    const { from, frame, verdict } = this.decode(msg, 'delta-announce');
    if (!frame) return this.answer(from, verdict);
    // A joining peer cannot judge deltas before it has the model.
    if (!this.engine || this.syncing) return TopicValidatorResult.Ignore;
    const part = singleU8(frame.tensors, 'part');
    if (!part || frame.message.type !== 'delta-announce') return this.answer(from, rejected('malformed'));
    if (!verifyDeltaAuthor(from, frame.message)) return this.answer(from, rejected('bad-signature'));
    return this.answer(from, this.offer(from, frame.message, part, 'gossip'));
  }

  private offer(
    from: string,
    header: Extract<Message, { type: 'delta-announce' }>,
    bytes: Uint8Array,
    via: 'gossip' | 'pull',
  ) {
    const e = this.engine!;
    const v = e.offer(from, header, Uint8Array.from(bytes), Date.now());
    if (v.action === 'accept' && v.completed) {
      this.swarm.countAccepted();
      this.events.emit('delta:accepted', {
        peer: from,
        round: v.completed.round,
        payloadSha256: v.completed.payloadSha256,
        via,
      });
      this.log.merge('accepted round %d delta from %s via %s', v.completed.round, from, via);
    }
    return v;
  }

  private onHeartbeat(msg: GossipMessage): TopicValidatorResult {
    const { from, frame, verdict } = this.decode(msg, 'heartbeat');
    if (!frame) return this.answer(from, verdict);
    const hb = frame.message as Heartbeat;
    this.heartbeats.set(from, { hb, at: Date.now() });
    this.events.emit('heartbeat', { peer: from, heartbeat: hb });
    return TopicValidatorResult.Accept;
  }

  private onSummary(msg: GossipMessage): TopicValidatorResult {
    const { from, frame, verdict } = this.decode(msg, 'anti-entropy-summary');
    if (!frame) return this.answer(from, verdict);
    const s = frame.message as AntiEntropySummary;
    this.views.set(from, {
      round: s.round,
      modelSha256: s.modelSha256,
      pastModels: s.pastModels,
      at: Date.now(),
    });
    const e = this.engine;
    if (e && !this.syncing) {
      const missing = s.deltas.filter(
        (r) =>
          (r.round === e.round || r.round === e.round + 1) &&
          r.peer !== this.selfId &&
          !e.has(r.peer, r.round),
      );
      if (missing.length > 0) void this.pull(msg.type === 'signed' ? msg.from : null, missing);
    }
    return TopicValidatorResult.Accept;
  }

  // ---------------------------------------------------------------------------------------------------
  // Timers: closing rule, resync rule, heartbeat, anti-entropy summary.
  // ---------------------------------------------------------------------------------------------------

  private tick(): void {
    const e = this.engine;
    if (!e || this.syncing || this.stopped) return;
    const now = Date.now();
    this.closeIfDue(now);
    if (now - this.lastResyncCheck >= this.swarm.timings.antiEntropyIntervalMs) {
      this.lastResyncCheck = now;
      const target = chooseResyncTarget({
        round: e.round,
        modelSha256: e.modelSha256,
        pastModels: e.pastModels,
        views: this.views,
        now,
        freshMs: this.manifest.round.peerTimeoutMs,
        roundAgeMs: now - this.roundSince,
        stuckAfterMs: this.manifest.round.deadlineMs + 2 * this.swarm.timings.antiEntropyIntervalMs,
      });
      if (target) {
        this.log.sync('resync (%s) to round %d %s', target.reason, target.round, target.modelSha256);
        this.syncing = this.syncFrom(target.peers, target.modelSha256, target.reason)
          .catch((err) => this.log.sync.error('resync failed: %e', err))
          .finally(() => (this.syncing = null));
      }
    }
  }

  private closeIfDue(now: number): void {
    const e = this.engine;
    if (e && !this.syncing && e.shouldClose(this.activeContributors(now), now)) this.closeRound(now);
  }

  private closeRound(now: number): void {
    const e = this.engine!;
    const closed = e.close(now);
    for (const d of closed.dropped) this.swarm.countVerdict(d.peer, rejected('unknown-base'));
    this.swarm.countRound('closed');
    this.log.merge('closed round %d with %d deltas -> %s', closed.round, closed.accepted, closed.modelSha256);
    this.events.emit('round:closed', {
      round: closed.round,
      accepted: closed.accepted,
      peers: closed.peers,
      stale: closed.stale,
      modelSha256: closed.modelSha256,
      durationMs: now - this.roundSince,
    });
    this.opened(now, false);
  }

  private opened(now: number, resynced: boolean): void {
    const e = this.engine!;
    this.roundSince = now;
    this.events.emit('round:opened', { round: e.round, modelSha256: e.modelSha256 });
    if (this.waiters.length === 0) return;
    // A delta that joined the next round (see contribute) waits for that round too; a resync replaced
    // the rounds it was waiting for.
    if (!resynced && this.contributedRound !== null && e.round <= this.contributedRound) return;
    const waiters = this.waiters;
    this.waiters = [];
    // These calls already waited for this change: a later nextRound() must wait for the one after.
    this.contributedRound = null;
    const snapshot = this.current();
    for (const w of waiters) w(snapshot);
  }

  private async publish(
    topic: string,
    message: MessageInput,
    tensors?: Record<string, Tensor>,
  ): Promise<void> {
    if (this.stopped) return;
    const frame = encodeFrame(message, tensors);
    try {
      await this.swarm.pubsub.publish(topic, frame);
      this.swarm.countBytes(0, frame.length);
    } catch (err) {
      this.log.gossip.error('publish on %s failed: %e', topic, err);
    }
  }

  private async publishHeartbeat(): Promise<void> {
    const e = this.engine;
    const connected = this.swarm.connectedPeers().map((p) => p.toString());
    const stats = this.swarm.stats();
    await this.publish(this.topic.heartbeat, {
      type: 'heartbeat',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      role: this.swarm.role,
      status: this.stopped ? 'stopping' : this.syncing || !e ? 'syncing' : this.status,
      round: e?.round ?? 0,
      modelSha256: e?.modelSha256 ?? null,
      step: this.progress.step,
      tokensPerSec: this.progress.tokensPerSec,
      loss: this.progress.loss,
      // What this replica holds: the model, its momentum, the encoder residual and past models (f32 each),
      // and the deltas of the open rounds.
      memoryBytes: e ? e.layout.size * 4 * (3 + e.pastWeightsHeld) + e.heldBytes() : 0,
      connectedPeers: connected.slice(0, PROTOCOL_LIMITS.maxPeersListed),
      webRtcPeers: this.swarm.webRtcPeers().slice(0, PROTOCOL_LIMITS.maxPeersListed),
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      sentAt: Date.now(),
    });
  }

  private async publishSummary(): Promise<void> {
    const e = this.engine;
    if (!e || this.syncing) return;
    await this.publish(this.topic.summaries, {
      type: 'anti-entropy-summary',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      round: e.round,
      modelSha256: e.modelSha256,
      pastModels: e.pastModels,
      deltas: e.refs().slice(0, PROTOCOL_LIMITS.maxSummaryEntries),
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Streams: anti-entropy pulls and weight sync, both directions.
  // ---------------------------------------------------------------------------------------------------

  /** Pulls deltas named in `from`'s summary; each answer passes the same checks as gossip. */
  private async pull(from: PeerId | null, refs: DeltaRef[]): Promise<void> {
    if (!from) return;
    const key = (r: DeltaRef) => `${r.peer}/${r.round}`;
    const wanted = refs.filter((r) => !this.pulling.has(key(r)));
    if (wanted.length === 0) return;
    for (const r of wanted) this.pulling.add(key(r));
    const signal = AbortSignal.timeout(this.swarm.timings.streamTimeoutMs);
    const source = from.toString();
    try {
      const lp = await this.swarm.dial(from, 'antiEntropy', signal);
      const request = encodeFrame({
        type: 'delta-pull',
        version: PROTOCOL_VERSION,
        jobId: this.manifest.jobId,
        refs: wanted,
      });
      await lp.write(request, { signal });
      this.swarm.countBytes(0, request.length);
      for (;;) {
        let bytes: Uint8Array;
        try {
          bytes = (await lp.read({ signal })).subarray();
        } catch (err) {
          if ((err as Error).name === 'UnexpectedEOFError') break;
          throw err;
        }
        this.swarm.countBytes(bytes.length, 0);
        const frame = decodeFrame(bytes, {
          maxBytes: PROTOCOL_LIMITS.maxStreamFrameBytes,
          jobId: this.manifest.jobId,
        });
        const m = frame.message;
        const part = singleU8(frame.tensors, 'part');
        const ref =
          m.type === 'delta-announce'
            ? wanted.find((r) => r.round === m.round && r.payloadSha256 === m.payloadSha256)
            : undefined;
        if (!part || m.type !== 'delta-announce' || !ref || m.part.count !== 1) {
          throw new DeltaPullError(`${source} answered a pull with something not asked for`);
        }
        if (!this.engine || this.syncing) break;
        // The responder only holds the delta: it must carry its author's signature, or it is forged.
        if (!verifyDeltaAuthor(ref.peer, m)) {
          this.swarm.countVerdict(source, rejected('bad-signature'));
          continue;
        }
        const v = this.offer(ref.peer, m, part, 'pull');
        if (v.action !== 'accept') this.swarm.countVerdict(source, v);
      }
      await lp.unwrap().close({ signal });
    } catch (err) {
      this.log.antiEntropy.error('pull from %s failed: %e', source, err);
    } finally {
      for (const r of wanted) this.pulling.delete(key(r));
    }
  }

  /** Serves one inbound stream of `protocol` (the service routes it here). */
  async respond(protocol: 'weightSync' | 'antiEntropy', stream: Stream, remote: PeerId): Promise<void> {
    const signal = AbortSignal.timeout(this.swarm.timings.streamTimeoutMs);
    const lp = lpStream(stream, { maxDataLength: PROTOCOL_LIMITS.maxGossipFrameBytes });
    const bytes = (await lp.read({ signal })).subarray();
    this.swarm.countBytes(bytes.length, 0);
    const request = decodeFrame(bytes, {
      maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes,
      jobId: this.manifest.jobId,
    }).message;
    const e = this.engine;
    const send = async (frame: Uint8Array) => {
      await lp.write(frame, { signal });
      this.swarm.countBytes(0, frame.length);
    };
    if (protocol === 'antiEntropy' && request.type === 'delta-pull') {
      for (const ref of request.refs) {
        const d = e?.get(ref);
        if (d)
          await send(encodeFrame(d.header, { part: tensorFromTyped('u8', [d.payload.length], d.payload) }));
      }
    } else if (protocol === 'weightSync' && request.type === 'weight-sync-request') {
      const ok =
        e && !this.syncing && (request.modelSha256 === null || request.modelSha256 === e.modelSha256);
      const body = ok
        ? encodeModelState(e.layout, {
            weights: e.weights,
            momentum: e.momentum,
            round: e.round,
            pastModels: e.pastModels,
          })
        : new Uint8Array(0);
      this.log.sync('weight sync for %p: %s', remote, ok ? 'ok' : 'not-found');
      await send(
        encodeFrame(
          {
            type: 'weight-sync-response',
            version: PROTOCOL_VERSION,
            jobId: this.manifest.jobId,
            status: ok ? 'ok' : 'not-found',
            round: ok ? e.round : 0,
            modelSha256: ok ? e.modelSha256 : null,
            payloadBytes: body.length,
          },
          { state: tensorFromTyped('u8', [body.length], body) },
        ),
      );
    } else {
      throw new DeltaPullError(`unexpected ${request.type} on the ${protocol} protocol`);
    }
    await stream.close({ signal });
  }

  /** Fetches the model `sha` (null: whatever the peer holds) from the first of `peers` that has it. */
  private async syncFrom(
    peers: readonly string[],
    sha: string | null,
    reason: 'join' | 'disagreement' | 'behind',
  ) {
    const connected = new Map(this.swarm.connectedPeers().map((p) => [p.toString(), p]));
    let lastError: unknown = new NoSyncSourceError('no connected peer holds the model');
    for (const id of peers) {
      const peer = connected.get(id);
      if (!peer) continue;
      try {
        await this.fetchModel(peer, sha, reason);
        return;
      } catch (err) {
        lastError = err;
        this.log.sync.error('weight sync from %s failed: %e', id, err);
      }
    }
    throw lastError;
  }

  private async fetchModel(peer: PeerId, sha: string | null, reason: 'join' | 'disagreement' | 'behind') {
    const signal = AbortSignal.timeout(this.swarm.timings.streamTimeoutMs);
    const lp = await this.swarm.dial(peer, 'weightSync', signal);
    const request = encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      modelSha256: sha,
    });
    await lp.write(request, { signal });
    this.swarm.countBytes(0, request.length);
    const bytes = (await lp.read({ signal })).subarray();
    this.swarm.countBytes(bytes.length, 0);
    await lp.unwrap().close({ signal });
    const frame = decodeFrame(bytes, {
      maxBytes: PROTOCOL_LIMITS.maxStreamFrameBytes,
      jobId: this.manifest.jobId,
    });
    const m = frame.message;
    const body = singleU8(frame.tensors, 'state');
    if (m.type !== 'weight-sync-response' || !body) throw new WeightSyncError('not a weight-sync response');
    if (m.status !== 'ok' || m.modelSha256 === null) throw new WeightSyncError(`peer answered ${m.status}`);
    if (sha !== null && m.modelSha256 !== sha)
      throw new WeightSyncError('peer sent another model than asked for');
    if (body.length !== m.payloadBytes)
      throw new WeightSyncError('weight-sync body length differs from its header');
    const state = decodeModelState(body, PROTOCOL_LIMITS.maxStreamFrameBytes, this.engine?.layout);
    if (state.layout.size !== this.manifest.baseCheckpoint.params) {
      throw new WeightSyncError(
        `synced model has ${state.layout.size} parameters, the manifest says ${this.manifest.baseCheckpoint.params}`,
      );
    }
    const got = modelSha256(state.layout, state.weights);
    if (got !== m.modelSha256)
      throw new WeightSyncError(`synced weights hash to ${got}, header says ${m.modelSha256}`);
    if (state.round !== m.round) throw new WeightSyncError('synced round differs from its header');
    if (this.engine) this.engine.adopt(state.round, state.weights, state.momentum, state.pastModels);
    else {
      this.install(
        new RoundEngine({
          manifest: this.manifest,
          layout: state.layout,
          weights: state.weights,
          momentum: state.momentum,
          round: state.round,
          pastModels: state.pastModels,
          maxPayloadBytes: maxPayloadBytes(state.layout),
        }),
      );
    }
    // The residual belongs to the old model's deltas.
    this.encoder!.reset();
    this.swarm.countRound('resync');
    this.events.emit('resync', { from: peer.toString(), round: state.round, modelSha256: got, reason });
    this.log.sync('synced round %d %s from %p (%s)', state.round, got, peer, reason);
    this.opened(Date.now(), true);
  }

  /** Late join: wait for the first summaries, then fetch the model most peers announce. */
  async joinBySync(timeoutMs = this.swarm.timings.streamTimeoutMs, signal?: AbortSignal): Promise<void> {
    this.status = 'syncing';
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = new NoSyncSourceError('no peer announced a model before the timeout');
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      const best = this.views.size > 0 ? mostAnnounced([...this.views]) : null;
      if (best) {
        try {
          await this.syncFrom(best.peers, best.modelSha256, 'join');
          return;
        } catch (err) {
          lastError = err;
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(500, this.swarm.timings.antiEntropyIntervalMs)));
    }
    throw lastError;
  }

  private install(engine: RoundEngine): void {
    this.engine = engine;
    this.encoder = new ErrorFeedbackEncoder(engine.layout.size, this.manifest.compression);
    this.status = TRAINER_ROLES.has(this.swarm.role) ? 'training' : 'idle';
    this.roundSince = Date.now();
  }

  private requireEngine(): RoundEngine {
    if (!this.engine || this.stopped)
      throw new NotStartedError('the replica has no model yet or was stopped');
    return this.engine;
  }
}

function rejected(reason: RejectReason): { action: 'reject'; reason: RejectReason } {
  return { action: 'reject', reason };
}

function ignored(reason: IgnoreReason): { action: 'ignore'; reason: IgnoreReason } {
  return { action: 'ignore', reason };
}

/** Maps protocol decode errors to validation reasons; a newer protocol version is ignored, not blamed. */
export function verdictOfDecodeError(
  err: unknown,
): { action: 'reject'; reason: RejectReason } | { action: 'ignore'; reason: IgnoreReason } {
  if (!isProtocolError(err)) return rejected('malformed');
  switch (err.name) {
    case 'UnsupportedVersionError':
      return (err as { newer?: boolean }).newer ? ignored('newer-version') : rejected('malformed');
    case 'WrongJobError':
      return rejected('wrong-job');
    case 'FrameTooLargeError':
    case 'LimitExceededError':
      return rejected('oversize');
    case 'NonFiniteTensorError':
      return rejected('non-finite');
    default:
      return rejected('malformed');
  }
}

/** The one u8 tensor a frame must carry, or null. */
function singleU8(tensors: Record<string, Tensor>, name: string): Uint8Array | null {
  const names = Object.keys(tensors);
  const t = tensors[name];
  if (names.length !== 1 || !t || t.dtype !== 'u8' || t.shape.length !== 1) return null;
  return t.data;
}
