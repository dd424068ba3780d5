/**
 * Which senders of summaries to ask for their refs, apart from the network so it can be tested alone. A
 * summary whose digest for a round differs from this peer's own makes its sender a candidate; once per
 * anti-entropy period the peer asks at most k of them and forgets the rest: the next summaries name them
 * again. Half the slots (rounded down) go to those claiming the most refs (ties in random order, so that
 * peers holding the same set share the asking): among honest peers the fullest set repairs fastest. The
 * other half goes to candidates drawn uniformly, because a claim cannot be checked before asking: a few
 * connected Sybils claiming huge counts would otherwise hold every slot, every period, and starve repair. A sender asked in vain (its refs brought nothing this peer lacked, or the
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

  /**
   * Up to `k` candidates not resting at `now`: ⌊k/2⌋ by most refs claimed, the rest drawn uniformly from
   * the others. Every candidate is forgotten.
   */
  choose(k: number, now: number): RefListCandidate[] {
    this.resting.dropWhere((until) => until <= now);
    const ready = [...this.pending.values()]
      .filter((c) => !this.resting.has(c.from))
      .map((c) => ({ c, draw: this.random() }))
      .sort((a, b) => b.c.claimed - a.c.claimed || a.draw - b.draw);
    this.pending.clear();
    const byClaim = ready.splice(0, Math.floor(k / 2));
    const drawn = ready.sort((a, b) => a.draw - b.draw).slice(0, k - byClaim.length);
    return [...byClaim, ...drawn].map(({ c }) => c);
  }

  /** `from` is not chosen again before `until`. */
  rest(from: string, until: number): void {
    this.resting.set(from, until);
  }
}
