/**
 * The resync rule, apart from the network so it can be tested alone. Every peer keeps the latest
 * (round, model hash) each neighbour announced in its anti-entropy summary and decides from those views
 * whether its own model has fallen out of step. The caller passes only the views that count: admitted
 * peers that are authors in its recent history (history-sync.ts), so fresh keys, however many, get no vote.
 */
import type { PastModels } from '@slimswarm/protocol';

/** A peer's (round, model hash) and the hashes of its models of the rounds just before. */
export interface ModelHistory {
  round: number;
  modelSha256: string;
  /** The job's maxStaleness of them. */
  pastModels: PastModels;
}

export interface NeighbourView extends ModelHistory {
  /** When the summary arrived (ms). */
  at: number;
}

export interface ResyncTarget {
  round: number;
  modelSha256: string;
  /** Peers that announced this model, best sources first. */
  peers: string[];
  reason: 'disagreement' | 'behind';
}

export interface ResyncInput extends ModelHistory {
  views: ReadonlyMap<string, NeighbourView>;
  now: number;
  /** Views older than this are not counted. */
  freshMs: number;
  /** How long this peer has been at its round (ms). */
  roundAgeMs: number;
  /** How long a round may legitimately stay open. */
  stuckAfterMs: number;
}

/**
 * - disagreement: compare each fresh neighbour with us at the later round both know a model of (the
 *   earlier of the two current rounds, through the past models): if more neighbours hold another model
 *   there than hold ours (our own vote included), and at least two do, adopt the model most of them hold
 *   now (ties: the later round). On an even split, the side whose models are the higher hashes moves
 *   (the fork rule's tie-break: both sides apply it alike). Comparing through past models catches a peer whose history split off
 *   while it runs a round ahead of or behind the others (it never meets them at the same round);
 * - behind: a strict majority of fresh neighbours is past our round, and either some are two or more rounds
 *   ahead or our round has been open for longer than a round may take: adopt the most announced model
 *   among them (ties: the later round).
 * Returns null when this peer is in step.
 */
export function chooseResyncTarget(input: ResyncInput): ResyncTarget | null {
  const fresh = [...input.views].filter(([, v]) => input.now - v.at <= input.freshMs);
  if (fresh.length === 0) return null;

  let agree = 1; // our own vote
  const split: [string, NeighbourView][] = [];
  let lowerThanOurs = 0;
  for (const entry of fresh) {
    const round = Math.min(entry[1].round, input.round);
    const theirs = hashAt(entry[1], round);
    const ours = hashAt(input, round);
    if (theirs === undefined || ours === undefined) continue; // no round in common that both remember
    if (theirs === ours) agree++;
    else {
      split.push(entry);
      if (theirs < ours) lowerThanOurs++;
    }
  }
  if (split.length > agree && split.length >= 2) return { ...mostAnnounced(split), reason: 'disagreement' };
  // An even split (a deadline race between halves): the side whose model hash is higher moves, so both
  // sides, applying the same rule, converge on one history.
  if (split.length === agree && lowerThanOurs === split.length)
    return { ...mostAnnounced(split), reason: 'disagreement' };

  const ahead = fresh.filter(([, v]) => v.round > input.round);
  const farAhead = ahead.some(([, v]) => v.round >= input.round + 2);
  if (ahead.length * 2 <= fresh.length + 1 || !(farAhead || input.roundAgeMs > input.stuckAfterMs))
    return null;
  return { ...mostAnnounced(ahead), reason: 'behind' };
}

/** The model hash `v` names for `round`: its current one, or one of its past models. */
function hashAt(v: ModelHistory, round: number): string | undefined {
  if (v.round === round) return v.modelSha256;
  return v.pastModels.find((m) => m.round === round)?.modelSha256;
}

/** The (round, model) most of `views` (at least one) hold now (ties: the later round), and who holds it. */
export function mostAnnounced(views: [string, NeighbourView][]): Omit<ResyncTarget, 'reason'> {
  const byModel = new Map<string, { round: number; modelSha256: string; peers: string[] }>();
  for (const [peer, v] of views) {
    const key = `${v.round}/${v.modelSha256}`;
    const entry = byModel.get(key) ?? { round: v.round, modelSha256: v.modelSha256, peers: [] };
    entry.peers.push(peer);
    byModel.set(key, entry);
  }
  return [...byModel.values()].sort((a, b) => b.peers.length - a.peers.length || b.round - a.round)[0]!;
}
