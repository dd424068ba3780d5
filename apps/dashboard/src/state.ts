/**
 * What the dashboard knows about the swarm, built only from validated messages (heartbeats and delta
 * announcements seen on gossip) and from this peer's own connections. Pure data, no DOM: the views read
 * it, tests drive it directly.
 */
import type { DeltaAnnouncement, Heartbeat, PeerRole, PeerStatus } from '@slimswarm/protocol';

/** Samples kept per peer for the time-series charts (a few minutes at one heartbeat per second). */
const MAX_SAMPLES = 600;
/** Rounds kept for the round and traffic charts. */
const MAX_ROUNDS = 200;
const TRAINER_ROLES: ReadonlySet<PeerRole> = new Set(['worker', 'browser']);

/** A connection between two peers (ids in code-unit order); `webRtc`: a direct tab-to-tab channel. */
export interface Edge {
  a: string;
  b: string;
  webRtc: boolean;
}

/**
 * What this dashboard has observed of one peer: the figures of its latest heartbeat, its connections, and
 * how many of its messages failed validation here.
 */
export interface ObservedPeer {
  id: string;
  /** Null for a peer only known from someone else's connection list. */
  role: PeerRole | null;
  status: PeerStatus | null;
  round: number | null;
  step: number;
  loss: number | null;
  tokensPerSec: number;
  memoryBytes: number;
  modelSha256: string | null;
  connectedPeers: readonly string[];
  /** Those of `connectedPeers` this peer reaches over a direct WebRTC channel. */
  webRtcPeers: readonly string[];
  bytesIn: number;
  bytesOut: number;
  /** When this dashboard last heard the peer's own heartbeat (ms since epoch), null if never. */
  heardAt: number | null;
  /** Messages from this peer that failed validation here. */
  rejected: number;
  /**
   * In a private job, the ε its latest heartbeat reported: the peer's own word, which nobody can check
   * (its noise never leaves it). Null when it reported none.
   */
  reportedEpsilon: number | null;
}

export interface Sample {
  /** Receive time, ms since epoch. */
  at: number;
  loss: number | null;
  tokensPerSec: number;
  /** Total frame bytes the peer has sent (gossip and streams), as its heartbeat reports. */
  bytesOut: number;
}

export interface RoundView {
  round: number;
  /** Authors of complete delta announcements seen for this round. */
  contributors: Set<string>;
  /** Those of them whose delta started from an earlier round's model (slower than a round). */
  stale: Set<string>;
  /** Encoded delta size per contributor (all parts). */
  deltaBytes: Map<string, number>;
  /** Gossip frame bytes of this round's deltas as they arrived here. */
  wireBytes: number;
}

export interface HashGroup {
  modelSha256: string;
  peers: string[];
}

export interface Agreement {
  /** The round compared: the one most live honest trainers report. */
  round: number;
  groups: HashGroup[];
  agree: boolean;
  /** Live honest trainers at another round, not compared. */
  elsewhere: number;
}

export type RejectionReason = string;

export class SwarmState {
  readonly peers = new Map<string, ObservedPeer>();
  readonly samples = new Map<string, Sample[]>();
  readonly rounds = new Map<number, RoundView>();
  readonly rejected = new Map<RejectionReason, number>();
  /** Gossip bytes received here, per kind of message. */
  readonly wireBytes = { heartbeat: 0, delta: 0, other: 0 };

  constructor(
    readonly selfId: string,
    /** A peer not heard from for this long is shown as gone (the job's peerTimeoutMs). */
    readonly peerTimeoutMs: number,
    /**
     * Whether a peer showed a valid admission stamp (the observer's AdmittedPeers). Peers known only from
     * connection lists or refusals are drawn once admitted: an unadmitted id is no member of the swarm.
     */
    private readonly isAdmitted: (peer: string) => boolean = () => true,
  ) {
    this.peers.set(selfId, { ...emptyPeer(selfId), role: 'dashboard', status: 'idle' });
  }

  heartbeat(from: string, hb: Heartbeat, frameBytes: number, at: number): void {
    this.wireBytes.heartbeat += frameBytes;
    const peer = this.peer(from);
    Object.assign(peer, {
      role: hb.role,
      status: hb.status,
      round: hb.round,
      step: hb.step,
      loss: hb.loss,
      tokensPerSec: hb.tokensPerSec,
      memoryBytes: hb.memoryBytes,
      modelSha256: hb.modelSha256,
      connectedPeers: hb.connectedPeers,
      webRtcPeers: hb.webRtcPeers,
      bytesIn: hb.bytesIn,
      bytesOut: hb.bytesOut,
      heardAt: at,
      reportedEpsilon: hb.epsilon ?? null,
    });
    for (const other of hb.connectedPeers) this.peer(other);
    if (TRAINER_ROLES.has(hb.role)) {
      const list = this.samples.get(from) ?? [];
      list.push({ at, loss: hb.loss, tokensPerSec: hb.tokensPerSec, bytesOut: hb.bytesOut });
      if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
      this.samples.set(from, list);
    }
  }

  /** One part of a delta announcement; the delta counts once its last part has been seen. */
  delta(from: string, announcement: DeltaAnnouncement, frameBytes: number): void {
    this.wireBytes.delta += frameBytes;
    this.peer(from);
    const round = this.round(announcement.round);
    round.wireBytes += frameBytes;
    if (announcement.part.index === announcement.part.count - 1) {
      round.contributors.add(from);
      if (announcement.baseRound < announcement.round) round.stale.add(from);
      round.deltaBytes.set(from, announcement.payloadBytes);
    }
  }

  /** A role known from elsewhere (the job listing); a peer's own heartbeat overrides it. */
  assumeRole(id: string, role: PeerRole): void {
    const peer = this.peer(id);
    if (peer.heardAt === null) peer.role = role;
  }

  other(frameBytes: number): void {
    this.wireBytes.other += frameBytes;
  }

  reject(from: string | null, reason: RejectionReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    if (from !== null) this.peer(from).rejected++;
  }

  /** This dashboard's own connections (its heartbeat is not gossiped back to itself). */
  connections(peers: readonly string[]): void {
    this.peer(this.selfId).connectedPeers = [...peers];
    for (const p of peers) this.peer(p);
  }

  /** Heard from recently, or connected to this dashboard (peers that send no heartbeat, e.g. the coordinator). */
  isLive(peer: ObservedPeer, now: number): boolean {
    if (peer.id === this.selfId || this.peers.get(this.selfId)!.connectedPeers.includes(peer.id)) return true;
    return peer.heardAt !== null && now - peer.heardAt <= this.peerTimeoutMs;
  }

  /** This dashboard, the coordinator (it sends no heartbeats) and admitted peers. */
  private shown(peer: ObservedPeer): boolean {
    return peer.id === this.selfId || peer.role === 'coordinator' || this.isAdmitted(peer.id);
  }

  /** Every admitted peer known, the dashboard first, then by role and id. */
  peerList(): ObservedPeer[] {
    const order: Record<string, number> = { dashboard: 0, coordinator: 1, worker: 2, browser: 3 };
    return [...this.peers.values()]
      .filter((p) => this.shown(p))
      .sort((a, b) => (order[a.role ?? ''] ?? 4) - (order[b.role ?? ''] ?? 4) || a.id.localeCompare(b.id));
  }

  /** Undirected edges between shown peers from their connection lists, each once; WebRTC if either end says so. */
  edges(): Edge[] {
    const byKey = new Map<string, Edge>();
    const shown = new Set(this.peerList().map((p) => p.id));
    for (const peer of this.peers.values()) {
      if (!shown.has(peer.id)) continue;
      for (const other of peer.connectedPeers) {
        if (!shown.has(other)) continue;
        const [a, b] = peer.id < other ? [peer.id, other] : [other, peer.id];
        if (a === b) continue;
        const webRtc = peer.webRtcPeers.includes(other);
        const known = byKey.get(`${a} ${b}`);
        if (known) known.webRtc ||= webRtc;
        else byKey.set(`${a} ${b}`, { a, b, webRtc });
      }
    }
    return [...byKey.values()];
  }

  /** Live trainers that sent nothing invalid: the peers whose model hashes must agree. */
  honestTrainers(now: number): ObservedPeer[] {
    return [...this.peers.values()].filter(
      (p) => p.role !== null && TRAINER_ROLES.has(p.role) && this.isLive(p, now) && p.rejected === 0,
    );
  }

  /**
   * Whether honest trainers hold the same model. They are compared at the round most of them report (the
   * newer one on a tie): a peer at another round is catching up or has just merged, not disagreeing.
   */
  agreement(now: number): Agreement | null {
    const trainers = this.honestTrainers(now).filter((p) => p.round !== null && p.modelSha256 !== null);
    if (trainers.length === 0) return null;
    const perRound = new Map<number, number>();
    for (const p of trainers) perRound.set(p.round!, (perRound.get(p.round!) ?? 0) + 1);
    const [round] = [...perRound].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]!;
    const byHash = new Map<string, string[]>();
    for (const p of trainers.filter((t) => t.round === round)) {
      byHash.set(p.modelSha256!, [...(byHash.get(p.modelSha256!) ?? []), p.id]);
    }
    const groups = [...byHash.entries()]
      .map(([modelSha256, peers]) => ({ modelSha256, peers: peers.sort() }))
      .sort((a, b) => b.peers.length - a.peers.length || a.modelSha256.localeCompare(b.modelSha256));
    return { round, groups, agree: groups.length === 1, elsewhere: trainers.length - perRound.get(round)! };
  }

  /** The newest round any live trainer reports, and how many live trainers have delivered a delta to it. */
  roundProgress(now: number): { round: number; delivered: number; trainers: number } | null {
    const trainers = [...this.peers.values()].filter(
      (p) => p.role !== null && TRAINER_ROLES.has(p.role) && this.isLive(p, now) && p.round !== null,
    );
    if (trainers.length === 0) return null;
    const round = Math.max(...trainers.map((p) => p.round!));
    const delivered = this.rounds.get(round)?.contributors.size ?? 0;
    return { round, delivered, trainers: trainers.length };
  }

  private peer(id: string): ObservedPeer {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = emptyPeer(id);
      this.peers.set(id, peer);
    }
    return peer;
  }

  private round(round: number): RoundView {
    let view = this.rounds.get(round);
    if (!view) {
      view = { round, contributors: new Set(), stale: new Set(), deltaBytes: new Map(), wireBytes: 0 };
      this.rounds.set(round, view);
      for (const old of [...this.rounds.keys()].sort((a, b) => a - b)) {
        if (this.rounds.size <= MAX_ROUNDS) break;
        this.rounds.delete(old);
      }
    }
    return view;
  }
}

function emptyPeer(id: string): ObservedPeer {
  return {
    id,
    role: null,
    status: null,
    round: null,
    step: 0,
    loss: null,
    tokensPerSec: 0,
    memoryBytes: 0,
    modelSha256: null,
    connectedPeers: [],
    webRtcPeers: [],
    bytesIn: 0,
    bytesOut: 0,
    heardAt: null,
    rejected: 0,
    reportedEpsilon: null,
  };
}
