/**
 * The resync rule, apart from the network so it can be tested alone. Every peer keeps the latest
 * (round, model hash) each neighbour announced in its anti-entropy summary and decides from those views
 * whether its own model has fallen out of step.
 */

export interface PeerView {
  round: number;
  modelSha256: string;
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
 * - disagreement: more fresh neighbours at this peer's round hold one other hash than hold ours (our own
 *   vote included), and at least two of them do: adopt the majority model;
 * - behind: a strict majority of fresh neighbours is past our round, and either some are two or more rounds
 *   ahead or our round has been open for longer than a round may take: adopt the most announced model
 *   among them (ties: the later round).
 * Returns null when this peer is in step.
 */
export function chooseResyncTarget(input: ResyncInput): ResyncTarget | null {
  const fresh = [...input.views].filter(([, v]) => input.now - v.at <= input.freshMs);
  if (fresh.length === 0) return null;

  const sameRound = groupBy(fresh.filter(([, v]) => v.round === input.round));
  const ours = (sameRound.get(input.modelSha256)?.length ?? 0) + 1;
  let best: [string, string[]] | null = null;
  for (const [sha, peers] of sameRound) {
    if (sha !== input.modelSha256 && peers.length > ours && peers.length >= 2) {
      if (!best || peers.length > best[1].length) best = [sha, peers];
    }
  }
  if (best) return { round: input.round, modelSha256: best[0], peers: best[1], reason: 'disagreement' };

  const ahead = fresh.filter(([, v]) => v.round > input.round);
  const farAhead = ahead.some(([, v]) => v.round >= input.round + 2);
  if (ahead.length * 2 <= fresh.length + 1 || !(farAhead || input.roundAgeMs > input.stuckAfterMs))
    return null;
  const byModel = new Map<string, { round: number; peers: string[] }>();
  for (const [peer, v] of ahead) {
    const key = `${v.round}/${v.modelSha256}`;
    const entry = byModel.get(key) ?? { round: v.round, peers: [] };
    entry.peers.push(peer);
    byModel.set(key, entry);
  }
  const [key, entry] = [...byModel].sort(
    ([, a], [, b]) => b.peers.length - a.peers.length || b.round - a.round,
  )[0]!;
  return {
    round: entry.round,
    modelSha256: key.slice(key.indexOf('/') + 1),
    peers: entry.peers,
    reason: 'behind',
  };
}

function groupBy(views: [string, PeerView][]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [peer, v] of views) out.set(v.modelSha256, [...(out.get(v.modelSha256) ?? []), peer]);
  return out;
}
