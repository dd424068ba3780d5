/**
 * The resync rule, apart from the network so it can be tested alone. Every peer keeps the latest
 * (round, model hash) each neighbour announced in its anti-entropy summary and decides from those views
 * whether its own model has fallen out of step.
 */

export interface PeerView {
  round: number;
  modelSha256: string;
  /** Its models of the rounds just before `round` (the job's maxStaleness of them). */
  pastModels: readonly { round: number; modelSha256: string }[];
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

export interface ResyncInput {
  round: number;
  modelSha256: string;
  views: ReadonlyMap<string, PeerView>;
  now: number;
  /** Views older than this are not counted. */
  freshMs: number;
  /** How long this peer has been at its round (ms). */
  roundAgeMs: number;
  /** How long a round may legitimately stay open. */
  stuckAfterMs: number;
}

/**
 * - disagreement: more fresh neighbours name one other hash for this peer's round than name ours (our own
 *   vote included), and at least two of them do: adopt the model most of them hold now (ties: the later
 *   round). A neighbour names a hash for our round when it is at that round, or past it and lists the
 *   round among its past models — so a peer whose history split off is caught also while it trails the
 *   others by a round (it never meets them at the same round);
 * - behind: a strict majority of fresh neighbours is past our round, and either some are two or more rounds
 *   ahead or our round has been open for longer than a round may take: adopt the most announced model
 *   among them (ties: the later round).
 * Returns null when this peer is in step.
 */
export function chooseResyncTarget(input: ResyncInput): ResyncTarget | null {
  const fresh = [...input.views].filter(([, v]) => input.now - v.at <= input.freshMs);
  if (fresh.length === 0) return null;

  const atOurRound = new Map<string, [string, PeerView][]>();
  for (const entry of fresh) {
    const sha = hashAt(entry[1], input.round);
    if (sha !== undefined) atOurRound.set(sha, [...(atOurRound.get(sha) ?? []), entry]);
  }
  const ours = (atOurRound.get(input.modelSha256)?.length ?? 0) + 1;
  let split: [string, PeerView][] | null = null;
  for (const [sha, group] of atOurRound) {
    if (sha !== input.modelSha256 && group.length > ours && group.length >= 2) {
      if (!split || group.length > split.length) split = group;
    }
  }
  if (split) return { ...mostAnnounced(split), reason: 'disagreement' };

  const ahead = fresh.filter(([, v]) => v.round > input.round);
  const farAhead = ahead.some(([, v]) => v.round >= input.round + 2);
  if (ahead.length * 2 <= fresh.length + 1 || !(farAhead || input.roundAgeMs > input.stuckAfterMs))
    return null;
  return { ...mostAnnounced(ahead), reason: 'behind' };
}

/** The model hash `v` names for `round`: its current one, or one of its past models. */
function hashAt(v: PeerView, round: number): string | undefined {
  if (v.round === round) return v.modelSha256;
  return v.pastModels.find((m) => m.round === round)?.modelSha256;
}

/** The (round, model) most of `views` (at least one) hold now (ties: the later round), and who holds it. */
export function mostAnnounced(views: [string, PeerView][]): Omit<ResyncTarget, 'reason'> {
  const byModel = new Map<string, { round: number; modelSha256: string; peers: string[] }>();
  for (const [peer, v] of views) {
    const key = `${v.round}/${v.modelSha256}`;
    const entry = byModel.get(key) ?? { round: v.round, modelSha256: v.modelSha256, peers: [] };
    entry.peers.push(peer);
    byModel.set(key, entry);
  }
  return [...byModel.values()].sort((a, b) => b.peers.length - a.peers.length || b.round - a.round)[0]!;
}
