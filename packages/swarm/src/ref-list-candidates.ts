/**
 * Which senders of summaries to ask for their refs, apart from the network so it can be tested alone. A
 * summary whose digest for a round differs from this peer's own makes its sender a candidate; once per
 * anti-entropy period the peer asks at most a few of them, those claiming the most refs first (ties in
 * random order, so that peers holding the same set share the asking), and forgets the rest: the next
 * summaries name them again. A sender asked in vain (its refs brought nothing this peer lacked, or the
 * exchange failed) is not asked again for a few periods, so a digest that never matches — a liar's, or a
 * peer's that lacks what this one holds — costs one exchange per cooldown, not one per period.
 */
import { BoundedMap } from './bounded-map.js';

export interface RefListCandidate {
  from: string;
  /** The rounds whose digests differ (ascending), and how many refs the sender claims for them. */
  rounds: number[];
  claimed: number;
}

export class RefListCandidates {
  private readonly pending: BoundedMap<string, RefListCandidate>;
  /** Sender -> until when it is not asked (ms). */
  private readonly resting: BoundedMap<string, number>;

  constructor(
    maxTracked: number,
    private readonly random: () => number = Math.random,
  ) {
    this.pending = new BoundedMap(maxTracked);
    this.resting = new BoundedMap(maxTracked);
  }

  /** The latest summary of `c.from` differs from this peer's holdings (it replaces an earlier one). */
  note(c: RefListCandidate): void {
    this.pending.set(c.from, c);
  }

  /** Up to `k` candidates not resting at `now`, most refs claimed first; every candidate is forgotten. */
  choose(k: number, now: number): RefListCandidate[] {
    this.resting.dropWhere((until) => until <= now);
    const ready = [...this.pending.values()]
      .filter((c) => !this.resting.has(c.from))
      .map((c) => ({ c, tie: this.random() }))
      .sort((a, b) => b.c.claimed - a.c.claimed || a.tie - b.tie)
      .slice(0, k)
      .map(({ c }) => c);
    this.pending.clear();
    return ready;
  }

  /** `from` is not chosen again before `until`. */
  rest(from: string, until: number): void {
    this.resting.set(from, until);
  }
}
