/**
 * Gossipsub peer scoring for the job's topics: every parameter and threshold in one place, and the
 * graylist guard that disconnects repeat offenders.
 *
 * What it is for: a Reject from a topic validator (the delta verdict, delta-verdict.ts) must cost the
 * peer that sent the message, and a peer that keeps sending invalid messages must end up graylisted
 * (gossipsub drops its RPCs unread) and disconnected. Honest peers must never get there: they cause no
 * Rejects in normal operation, and nothing here scores how fast or how often a peer delivers, so a slow,
 * quiet, late or briefly absent peer scores 0 or more.
 *
 * Score of a peer = Σ over scored topics of topicWeight·(P1 + P4) (capped at topicScoreCap when
 * positive) + P5 + P6 + P7, with
 *   P1 time in mesh     +0.1 per second in our mesh, at most +3 per topic (after 30 s);
 *   P4 invalid messages −n² for n Rejects on a topic, n decaying ×0.95 per second;
 *   P5 application      −1000 while the guard bans the peer, else 0;
 *   P6 IP colocation    as configured (GossipConfig.ipColocationFactorWeight);
 *   P7 behaviour        −(b − 6)² for b protocol penalties (GRAFT in backoff, broken IWANT promises).
 * P2 (first deliveries) and P3/P3b (mesh delivery rates) are off; see jobTopicScoreParams.
 *
 * Job topics are known only once a replica (or an observer) subscribes, after gossipsub is built. In
 * @libp2p/gossipsub 17 the score reads `score.params.topics[topic]` at every use, so the service adds a
 * topic's parameters when it subscribes (`scoreTopic`), the way go-libp2p-pubsub's SetTopicScoreParams
 * does. That field is public on the GossipSub class but not on the interface `gossipsub()` returns, so
 * `scoringOf` checks its shape and fails loudly if an upgrade changes it (a test covers it).
 */
import type { GossipSub } from '@libp2p/gossipsub';
import {
  createTopicScoreParams,
  validateTopicScoreParams,
  type PeerScoreParams,
  type PeerScoreStatsDump,
  type PeerScoreThresholds,
  type TopicScoreParams,
} from '@libp2p/gossipsub/score';
import { GossipScoringError } from './errors.js';

/**
 * Thresholds in Rejects, on the scale of P4 = −n² (n Rejects in a burst on one topic):
 *  - gossip −25: from the 6th (−36) we stop exchanging IHAVE/IWANT gossip with the peer;
 *  - publish −100: from the 11th (−121) our own messages are no longer flood-published to it;
 *  - graylist −250: from the 16th (−256) gossipsub ignores everything it sends, and the guard bans it.
 * Why that many: gossipsub blames the peer that delivered a message we Reject, not its author, and some
 * Rejects depend on the judge's round state (replay, wrong-round, unknown-base, equivocation), so an
 * honest peer that forwarded what it accepted can collect a few from a peer whose state differs. A
 * flood crosses 16 within one heartbeat anyway.
 *  - acceptPX 100: peer exchange is off (doPX false); kept out of reach of any score (cap 10);
 *  - opportunisticGraft 2: when the median mesh peer has spent under 20 s in our mesh, gossipsub grafts
 *    peers that have been there longer (the default 20 is unreachable with a cap of 10: it would graft
 *    every minute for nothing).
 */
export const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -25,
  publishThreshold: -100,
  graylistThreshold: -250,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 2,
};

/** P5 of a banned peer: far below the graylist threshold whatever else it has earned. */
const BANNED_APP_SCORE = -1000;

/**
 * Parameters of each job topic (deltas, heartbeats, summaries): all three are validated by the same
 * verdict, so a Reject weighs the same on each (topicWeight 1). Why each number:
 *  - P1 0.1 per 1 s quantum, cap 30 s: a small reward for staying in our mesh (it orders the mesh and
 *    lets a peer that has been around absorb a few stray Rejects), too small to bank against a flood.
 *  - P2 0: first-delivery rewards favour fast links, and phone tabs would score below Node workers.
 *  - P3, P3b 0: mesh-delivery deficits punish peers that do not forward at some rate; our traffic comes
 *    once per round, and quiet (not training), slow or freshly joined peers deliver nothing for a while.
 *  - P4 −1, decay 0.95/s: quadratic, so a burst of 16 Rejects graylists a peer at once; a steady one
 *    per second does within a minute (n tends to 20), one every 2 s leaves it below the publish threshold
 *    (n ≈ 10), one every 5 s above the gossip threshold (n ≈ 4.4); a single Reject is forgotten after
 *    ~45 s (n below decayToZero 0.1).
 */
export function jobTopicScoreParams(): TopicScoreParams {
  return createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0.1,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 30,
    firstMessageDeliveriesWeight: 0,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -1,
    invalidMessageDeliveriesDecay: 0.95,
  });
}

/**
 * The peer-wide parameters gossipsub is built with (topics are added by scoreTopic). P7: gossipsub's
 * default (−10·b² from the first penalty) would take a peer below our gossip threshold after 2 broken
 * IWANT promises, which a slow honest link carrying 1 MiB deltas can break; ours tolerates 6 and needs
 * 22 within a few seconds (decay ×0.5 per second) to graylist. P6 keeps its configured weight: with the
 * default −53 (threshold 10 peers), the 11th peer on one address falls below the gossip threshold, the
 * 12th below the publish threshold, the 13th is graylisted (not banned: see GraylistGuard).
 */
export function peerScoreParams(
  guard: GraylistGuard,
  ipColocationFactorWeight: number,
): Partial<PeerScoreParams> {
  return {
    topics: {},
    topicScoreCap: 10,
    appSpecificScore: guard.appSpecificScore,
    appSpecificWeight: 1,
    IPColocationFactorWeight: ipColocationFactorWeight,
    behaviourPenaltyWeight: -1,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.5,
    decayInterval: 1000,
    decayToZero: 0.1,
  };
}

/** The scoring state of @libp2p/gossipsub 17's GossipSub class that the interface does not expose. */
export interface GossipScoring {
  getScore(peer: string): number;
  readonly score: { readonly params: PeerScoreParams; readonly peerStats: Map<string, PeerStats> };
}

type PeerStats = PeerScoreStatsDump[string];

/** The scoring state of `pubsub`, or GossipScoringError if this gossipsub does not have that shape. */
export function scoringOf(pubsub: GossipSub): GossipScoring {
  const s = pubsub as unknown as Partial<GossipScoring>;
  if (
    typeof s.getScore !== 'function' ||
    typeof s.score?.params?.topics !== 'object' ||
    !(s.score.peerStats instanceof Map)
  ) {
    throw new GossipScoringError('this gossipsub exposes no score parameters to add job topics to');
  }
  return s as GossipScoring;
}

/**
 * Scores `topic` from now on (idempotent). Parameters are never removed again: gossipsub reads them for
 * every peer that has stats on the topic (removing them throws on its next prune), and an offender's
 * Rejects on a topic we left still count until they decay.
 */
export function scoreTopic(pubsub: GossipSub, topic: string): void {
  const topics = scoringOf(pubsub).score.params.topics;
  if (topics[topic] !== undefined) return;
  const params = jobTopicScoreParams();
  validateTopicScoreParams(params);
  topics[topic] = params;
}

/** The part of `peer`'s score its Rejects alone make (Σ topicWeight·P4 over scored topics), ≤ 0. */
export function invalidMessagePenalty(scoring: GossipScoring, peer: string): number {
  const stats = scoring.score.peerStats.get(peer);
  if (!stats) return 0;
  let penalty = 0;
  for (const [topic, t] of Object.entries(stats.topics)) {
    const p = scoring.score.params.topics[topic];
    if (p) penalty += p.topicWeight * p.invalidMessageDeliveriesWeight * t.invalidMessageDeliveries ** 2;
  }
  return penalty;
}

/**
 * Bans peers whose Rejects alone put them below the graylist threshold: the service disconnects them
 * and hangs up on them again if they come back while banned. The ban exists because @libp2p/gossipsub
 * 17 starts a reconnecting peer from fresh stats (PeerScore.addPeer replaces the retained ones), so a
 * disconnect alone would be an amnesty; while banned, P5 keeps the peer graylisted even on fresh stats.
 * A peer below the threshold for other reasons (IP colocation, protocol penalties) stays connected and
 * graylisted only while that lasts. The set is bounded: the oldest ban goes first.
 */
export class GraylistGuard {
  private readonly bans = new Map<string, number>();

  constructor(
    private readonly banMs: number,
    private readonly maxBans = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  readonly appSpecificScore = (peer: string): number => (this.isBanned(peer) ? BANNED_APP_SCORE : 0);

  isBanned(peer: string): boolean {
    const until = this.bans.get(peer);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.bans.delete(peer);
    return false;
  }

  /** Bans `peer` for banMs from now; returns when the ban ends. */
  ban(peer: string): number {
    const until = this.now() + this.banMs;
    this.bans.delete(peer);
    this.bans.set(peer, until);
    while (this.bans.size > this.maxBans) this.bans.delete(this.bans.keys().next().value!);
    return until;
  }

  /**
   * Judges gossipsub's current peers: bans those gossipsub graylists (its score, which it caches for a
   * heartbeat, is below the threshold) whose Rejects alone are below the threshold too. Returns the
   * peers to disconnect (newly and already banned) with that score.
   */
  sweep(scoring: GossipScoring, peers: readonly string[]): { peer: string; score: number; until: number }[] {
    const out: { peer: string; score: number; until: number }[] = [];
    const threshold = SCORE_THRESHOLDS.graylistThreshold;
    for (const peer of peers) {
      const until = this.isBanned(peer) ? this.bans.get(peer)! : null;
      if (until === null && invalidMessagePenalty(scoring, peer) >= threshold) continue;
      // Read before banning: the score the peer reached by itself, without the ban's P5.
      const score = scoring.getScore(peer);
      if (until !== null) out.push({ peer, score, until });
      else if (score < threshold) out.push({ peer, score, until: this.ban(peer) });
    }
    return out;
  }
}
