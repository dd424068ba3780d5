/**
 * Liveness: every peer announces itself on the heartbeat topic (role, status, round, the trainer's
 * figures, its links), and counts as active contributors the trainers whose last heartbeat is fresh and
 * says `training` and who show work: a delta accepted in the last few rounds, or a newcomer's grace. The
 * closing rule waits for a quorum of those, so a heartbeat that costs nothing cannot hold rounds open. A
 * heartbeat whose stamp does not admit its sender is refused and not counted: unadmitted ids would
 * otherwise inflate the quorum (admission.ts).
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  topics,
  type Heartbeat,
  type JobManifest,
  type PeerRole,
  type PeerStatus,
} from '@slimswarm/protocol';
import type { JobAdmission } from './admission.js';
import { BoundedMap } from './bounded-map.js';
import { decodeJobFrame, rejected } from './delta-verdict.js';
import type { GossipIn, GossipVerdict, SwarmNetwork } from './network.js';
import { spreadFactor } from './timed-spread.js';

const TRAINER_ROLES: ReadonlySet<PeerRole> = new Set(['worker', 'browser']);

/** Workers and tabs train; coordinators and dashboards only forward and watch. */
export function isTrainer(role: PeerRole): boolean {
  return TRAINER_ROLES.has(role);
}

/** What a trainer reports for its heartbeats (the swarm computes none of it). */
export interface TrainerProgress {
  /** Local steps taken so far. */
  step: number;
  /** Mean loss of the latest local steps, or null before the first. */
  loss: number | null;
  tokensPerSec: number;
}

/** This peer's side of its heartbeat, read when one is sent. */
export interface HeartbeatState {
  status: PeerStatus;
  round: number;
  modelSha256: string | null;
  /** Bytes the replica holds (model, momentum, residual, past models, held deltas). */
  memoryBytes: number;
  progress: TrainerProgress;
  /** In a private job, the ε this peer's releases spent (self-reported: nobody can check it). */
  epsilon?: number;
}

/** The open round and the authors of the deltas accepted for it. */
export interface OpenRound {
  round: number;
  authors: Iterable<string>;
}

/** What liveness keeps of a peer's last heartbeat (not its peer lists: up to 64 KB a heartbeat). */
interface LastHeartbeat {
  role: PeerRole;
  status: PeerStatus;
  at: number;
  /** This peer's round when it first heard the sender (the start of the sender's grace). */
  since: number;
}

export class Liveness {
  private readonly topic: string;
  /** Last heartbeat per peer, newest last; silent peers leave after `freshMs()`. */
  private readonly last: BoundedMap<string, LastHeartbeat>;
  /** The latest round each author had a delta accepted for, while that still makes it count. */
  private readonly contributedIn: BoundedMap<string, number>;
  private unlisten: () => void = () => {};

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    private readonly admission: JobAdmission,
    private readonly state: () => HeartbeatState,
  ) {
    this.topic = topics.heartbeat(manifest.jobId);
    this.last = new BoundedMap(net.timings.maxPeersTracked);
    this.contributedIn = new BoundedMap(net.timings.maxPeersTracked);
  }

  start(): void {
    this.net.subscribe(this.topic, (msg) => this.onHeartbeat(msg));
    this.unlisten = this.net.events.on('delta:accepted', (d) => this.contributed(d.peer, d.round));
  }

  stop(): void {
    this.net.unsubscribe(this.topic);
    this.unlisten();
  }

  onHeartbeat(msg: GossipIn, now = Date.now()): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'heartbeat');
    if (!('frame' in decoded)) return decoded;
    const hb = decoded.frame.message as Heartbeat;
    if (!this.admission.peers.admits(msg.from, hb.admission)) return rejected('not-admitted');
    const freshMs = this.freshMs();
    this.last.dropOldestWhile((e) => now - e.at > freshMs);
    const since = this.last.get(msg.from)?.since ?? this.state().round;
    this.last.set(msg.from, { role: hb.role, status: hb.status, at: now, since });
    this.net.events.emit('heartbeat', { peer: msg.from, heartbeat: hb });
    return { action: 'accept' };
  }

  /** How much the timed channels are stretched now: from the peers whose heartbeats this one holds. */
  spread(): number {
    return spreadFactor(this.last.size, this.net.timings);
  }

  /** How long a peer's heartbeat (or summary) keeps it fresh: the job's peerTimeoutMs, stretched. */
  freshMs(): number {
    return this.manifest.round.peerTimeoutMs * this.spread();
  }

  /** `author` had a delta accepted for `round`: its heartbeats count for `liveRounds` rounds more. */
  private contributed(author: string, round: number): void {
    this.contributedIn.set(author, Math.max(this.contributedIn.get(author) ?? round, round));
  }

  /**
   * Trainers counted as active now: the authors of the open round's deltas, this peer when it trains, and
   * fresh heartbeats that say `training` from trainers that show work — a delta accepted within the last
   * `liveRounds` rounds, or fewer than `graceRounds` rounds since this peer first heard them (a newcomer
   * has not had the time yet). Never a banned peer, whose deltas nobody takes (the round would wait for it
   * until its deadline). So a fake `training` heartbeat holds at most `graceRounds` rounds open, not all.
   */
  activeContributors(
    open: OpenRound,
    now = Date.now(),
    banned: { has(peer: string): boolean } = new Set(),
  ): number {
    const live = this.net.timings.liveRounds;
    this.contributedIn.dropWhere((round) => open.round - round > live);
    const fresh = new Set<string>(open.authors);
    const freshMs = this.freshMs();
    for (const [peer, { role, status, at, since }] of this.last) {
      if (now - at > freshMs || !isTrainer(role) || status !== 'training') continue;
      const worked = this.contributedIn.has(peer) || open.round - since < this.net.timings.graceRounds;
      if (worked) fresh.add(peer);
    }
    for (const peer of fresh) if (banned.has(peer)) fresh.delete(peer);
    if (isTrainer(this.net.role)) fresh.add(this.net.selfId);
    return fresh.size;
  }

  heartbeat(now = Date.now()): Heartbeat {
    const s = this.state();
    const stats = this.net.counters.snapshot();
    return {
      type: 'heartbeat',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      role: this.net.role,
      status: s.status,
      round: s.round,
      modelSha256: s.modelSha256,
      step: s.progress.step,
      tokensPerSec: s.progress.tokensPerSec,
      // As the delta's meanLoss: a figure of the volunteer's text outside the noise stays home.
      loss: this.manifest.privacy ? null : s.progress.loss,
      memoryBytes: s.memoryBytes,
      connectedPeers: this.net.connectedPeers().slice(0, PROTOCOL_LIMITS.maxPeersListed),
      webRtcPeers: this.net.webRtcPeers().slice(0, PROTOCOL_LIMITS.maxPeersListed),
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      sentAt: now,
      admission: this.admission.stamp,
      ...(s.epsilon === undefined ? {} : { epsilon: s.epsilon }),
    };
  }

  async publish(): Promise<void> {
    await this.net.publish(this.topic, encodeFrame(this.heartbeat()));
  }
}
