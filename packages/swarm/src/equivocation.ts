/**
 * Equivocation: two different signed deltas from one author for one round prove that the author
 * misbehaves (an honest peer signs one delta per round). A peer that sees both
 *
 *   1. drops both: the author's delta of that round, complete or partial, leaves the round state;
 *   2. gossips the proof — both signed headers, no payload — as `equivocation-evidence` on the job's
 *      evidence topic;
 *   3. ignores the author for the rest of the job: its deltas are refused as `banned` (delta-verdict.ts).
 *
 * Evidence is never taken on trust: every receiver checks that both headers are of its job, for one round,
 * with different payload digests (the schema), and that both signatures verify under the named author.
 * Evidence that arrives before the deltas bans first; the deltas are then refused.
 *
 * Bans are bounded: at most MAX_BANNED authors; a new ban beyond that forgets the oldest (which can then
 * send ordinary deltas again, bounded like anyone's by the norm bound and the robust rule).
 */
import type { Logger } from '@libp2p/interface';
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  topics,
  type DeltaAnnouncement,
  type EquivocationEvidence,
  type JobManifest,
} from '@slimswarm/protocol';
import { BoundedMap } from './bounded-map.js';
import { decodeJobFrame, ignored, rejected, type Refusal } from './delta-verdict.js';
import { compareCodeUnits } from './model-layout.js';
import type { GossipIn, GossipVerdict, SwarmNetwork } from './network.js';
import { verifyDeltaAuthor } from './signature.js';

export type { EquivocationEvidence };

/** The most authors one peer keeps banned (the job's peer-list bound). */
export const MAX_BANNED = PROTOCOL_LIMITS.maxPeersListed;

/** The proof that `author` signed both `a` and `b` (already verified, same round, different digests). */
export function buildEvidence(
  jobId: string,
  author: string,
  a: DeltaAnnouncement,
  b: DeltaAnnouncement,
): EquivocationEvidence {
  // The gossip `part` is not signed: both travel as part 0 of 1, the lower digest first (one encoding).
  const [first, second] = [a, b]
    .map((h) => ({ ...h, part: { index: 0, count: 1 } }))
    .sort((x, y) => compareCodeUnits(x.payloadSha256, y.payloadSha256));
  return {
    type: 'equivocation-evidence',
    version: PROTOCOL_VERSION,
    jobId,
    author,
    first: first!,
    second: second!,
  };
}

/**
 * Judges decoded evidence (the schema already checked one round and two ordered, different digests):
 * null when it proves that its author equivocated in this job, else why not.
 */
export function checkEvidence(e: EquivocationEvidence, manifest: JobManifest): Refusal | null {
  if (e.first.jobId !== manifest.jobId || e.second.jobId !== manifest.jobId) return rejected('wrong-job');
  if (!verifyDeltaAuthor(e.author, e.first) || !verifyDeltaAuthor(e.author, e.second))
    return rejected('bad-signature');
  return null;
}

/** The authors this peer ignores for the rest of the job, each with the evidence that proved it. */
export class Bans {
  /** Author -> its evidence, oldest ban first. */
  private readonly byAuthor = new Map<string, EquivocationEvidence>();

  constructor(readonly max: number = MAX_BANNED) {}

  has(author: string): boolean {
    return this.byAuthor.has(author);
  }

  get size(): number {
    return this.byAuthor.size;
  }

  authors(): string[] {
    return [...this.byAuthor.keys()];
  }

  evidenceOf(author: string): EquivocationEvidence | undefined {
    return this.byAuthor.get(author);
  }

  /** Bans the evidence's author; false if it was banned already. Past `max` the oldest ban is forgotten. */
  add(e: EquivocationEvidence): boolean {
    if (this.byAuthor.has(e.author)) return false;
    this.byAuthor.set(e.author, e);
    if (this.byAuthor.size > this.max) this.byAuthor.delete(this.byAuthor.keys().next().value!);
    return true;
  }
}

/** What a ban does to the round state: drop whatever the author has in the open rounds. */
export interface BanTarget {
  ban(e: EquivocationEvidence): boolean;
}

/** The network side: the evidence topic, both ways. */
export class Equivocation {
  private readonly topic: string;
  private readonly log: Logger;
  /**
   * When each banned author's evidence was last published, to remind unaware peers at most once a period;
   * no more entries than bans (a forgotten ban's entry goes the same way, oldest first).
   */
  private readonly sentAt: BoundedMap<string, number>;

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    readonly bans: Bans,
    /** The round state to drop a newly banned author's deltas from; null before the model arrives. */
    private readonly rounds: () => BanTarget | null,
  ) {
    this.topic = topics.evidence(manifest.jobId);
    this.log = net.logger.forComponent('slimswarm:swarm:equivocation');
    this.sentAt = new BoundedMap(bans.max);
  }

  start(): void {
    this.net.subscribe(this.topic, (msg) => this.onEvidence(msg));
  }

  stop(): void {
    this.net.unsubscribe(this.topic);
  }

  /** This peer saw both deltas itself (the round state banned the author already): tell the others. */
  detected(e: EquivocationEvidence): Refusal {
    this.banned(e, 'delta');
    void this.publish(e);
    return rejected('equivocation');
  }

  /** Evidence from a neighbour: checked here, whoever sent it; a bad one is blamed on its sender. */
  onEvidence(msg: GossipIn): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'equivocation-evidence');
    if (!('frame' in decoded)) return decoded;
    const e = decoded.frame.message as EquivocationEvidence;
    if (this.bans.has(e.author)) return ignored('duplicate');
    const refusal = checkEvidence(e, this.manifest);
    if (refusal) return refusal;
    const rounds = this.rounds();
    if (rounds) rounds.ban(e);
    else this.bans.add(e);
    this.banned(e, 'evidence');
    return { action: 'accept' };
  }

  /**
   * A neighbour still names a delta of a banned author (its summary): it has not seen the evidence, e.g.
   * it joined after it went round. Publish it again, at most once per anti-entropy period per author.
   */
  remind(author: string, now = Date.now()): void {
    const e = this.bans.evidenceOf(author);
    if (!e || now - (this.sentAt.get(author) ?? -Infinity) < this.net.timings.antiEntropyIntervalMs) return;
    void this.publish(e, now);
  }

  private banned(e: EquivocationEvidence, via: 'delta' | 'evidence'): void {
    const round = e.first.round;
    this.log('banned %s: two deltas for round %d (%s)', e.author, round, via);
    this.net.events.emit('peer:banned', { peer: e.author, round, via });
  }

  private async publish(e: EquivocationEvidence, now = Date.now()): Promise<void> {
    this.sentAt.set(e.author, now);
    await this.net
      .publish(this.topic, encodeFrame(e))
      .catch((err) => this.log.error('publishing evidence against %s failed: %e', e.author, err));
  }
}

/** How many rounds back a peer remembers which of its own deltas it sent. */
const OWN_ROUNDS_KEPT = 16;

/**
 * The rounds this peer sent a delta for. A resync can put it back into one of them with another model;
 * a second signed delta there would be an equivocation and get it banned everywhere, so it sends none.
 */
export class OwnDeltas {
  private readonly sent = new Map<number, string>();
  private highest = -1;

  record(round: number, payloadSha256: string): void {
    this.sent.set(round, payloadSha256);
    this.highest = Math.max(this.highest, round);
    for (const r of this.sent.keys()) if (r < this.highest - OWN_ROUNDS_KEPT) this.sent.delete(r);
  }

  /** The digest this peer sent for `round`; '' if too long ago to tell (taken as sent); null if none. */
  sentFor(round: number): string | null {
    return this.sent.get(round) ?? (round < this.highest - OWN_ROUNDS_KEPT ? '' : null);
  }
}
