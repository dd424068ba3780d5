/**
 * Liveness: every peer announces itself on the heartbeat topic (role, status, round, the trainer's
 * figures, its links), and counts as active contributors the trainers whose last heartbeat is fresh and
 * says `training`. The closing rule waits for a quorum of those. A heartbeat whose stamp does not admit
 * its sender is refused and not counted: unadmitted ids would otherwise inflate the quorum (admission.ts).
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
import { decodeJobFrame, rejected } from './delta-verdict.js';
import type { GossipIn, GossipVerdict, SwarmNetwork } from './network.js';

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
}

export class Liveness {
  private readonly topic: string;
  /** Last heartbeat per peer, and when it came. */
  private readonly last = new Map<string, { hb: Heartbeat; at: number }>();

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    private readonly admission: JobAdmission,
    private readonly state: () => HeartbeatState,
  ) {
    this.topic = topics.heartbeat(manifest.jobId);
  }

  start(): void {
    this.net.subscribe(this.topic, (msg) => this.onHeartbeat(msg));
  }

  stop(): void {
    this.net.unsubscribe(this.topic);
  }

  onHeartbeat(msg: GossipIn, now = Date.now()): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'heartbeat');
    if (!('frame' in decoded)) return decoded;
    const hb = decoded.frame.message as Heartbeat;
    if (!this.admission.peers.admits(msg.from, hb.admission)) return rejected('not-admitted');
    this.last.set(msg.from, { hb, at: now });
    this.net.events.emit('heartbeat', { peer: msg.from, heartbeat: hb });
    return { action: 'accept' };
  }

  /**
   * Trainers counted as active now: fresh heartbeats that say `training`, the authors in `alsoActive`
   * (their deltas of the open round show they are), and this peer when it trains — never a banned peer,
   * whose deltas nobody takes (the round would wait for it until its deadline).
   */
  activeContributors(
    alsoActive: Iterable<string>,
    now = Date.now(),
    banned: { has(peer: string): boolean } = new Set(),
  ): number {
    const fresh = new Set<string>(alsoActive);
    for (const [peer, { hb, at }] of this.last) {
      if (now - at <= this.manifest.round.peerTimeoutMs && isTrainer(hb.role) && hb.status === 'training')
        fresh.add(peer);
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
      loss: s.progress.loss,
      memoryBytes: s.memoryBytes,
      connectedPeers: this.net.connectedPeers().slice(0, PROTOCOL_LIMITS.maxPeersListed),
      webRtcPeers: this.net.webRtcPeers().slice(0, PROTOCOL_LIMITS.maxPeersListed),
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      sentAt: now,
      admission: this.admission.stamp,
    };
  }

  async publish(): Promise<void> {
    await this.net.publish(this.topic, encodeFrame(this.heartbeat()));
  }
}
