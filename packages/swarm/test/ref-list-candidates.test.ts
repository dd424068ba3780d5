import { describe, expect, it } from 'vitest';
import { rng } from '../bench/synthetic-problem.js';
import { RefListCandidates, type RefListCandidate } from '../src/ref-list-candidates.js';

describe('RefListCandidates', () => {
  it('chooses at most k: half by most refs claimed, the rest drawn, and forgets the rest until named again', () => {
    // Draws in note order: a 0.5, b 0.2, c 0.9, d 0.1.
    const draws = [0.5, 0.2, 0.9, 0.1];
    const c = new RefListCandidates(16, () => draws.shift()!);
    for (const [from, claimed] of [
      ['a', 3],
      ['b', 9],
      ['c', 5],
      ['d', 1],
    ] as const)
      c.note({ from, rounds: [0], claimed });
    expect(c.choose(2, 0).map((x) => x.from)).toEqual(['b', 'd']);
    expect(c.choose(2, 0)).toEqual([]);
  });

  it('a later summary replaces an earlier one of the same sender', () => {
    const c = new RefListCandidates(16);
    c.note({ from: 'a', rounds: [0], claimed: 1 });
    c.note({ from: 'a', rounds: [0, 1], claimed: 7 });
    expect(c.choose(4, 0)).toEqual([{ from: 'a', rounds: [0, 1], claimed: 7 }]);
  });

  it('a resting sender is skipped until its rest ends', () => {
    const c = new RefListCandidates(16);
    c.rest('liar', 1_000);
    c.note({ from: 'liar', rounds: [0], claimed: 512 });
    c.note({ from: 'honest', rounds: [0], claimed: 1 });
    expect(c.choose(1, 999).map((x) => x.from)).toEqual(['honest']);
    c.note({ from: 'liar', rounds: [0], claimed: 512 });
    expect(c.choose(1, 1_000).map((x) => x.from)).toEqual(['liar']);
  });

  it('equal claims are taken in random order, so peers holding one set share the asking', () => {
    const draws = [0.9, 0.1];
    const c = new RefListCandidates(16, () => draws.shift()!);
    c.note({ from: 'a', rounds: [0], claimed: 2 });
    c.note({ from: 'b', rounds: [0], claimed: 2 });
    expect(c.choose(1, 0).map((x) => x.from)).toEqual(['b']);
  });

  it('keeps at most maxTracked senders', () => {
    const c = new RefListCandidates(16);
    for (let i = 0; i < 100; i++) c.note({ from: `p${i}`, rounds: [0], claimed: 100 - i });
    const chosen = c.choose(100, 0);
    expect(chosen).toHaveLength(16);
    expect(chosen[0]!.from).toBe('p84');
  });

  it('connected Sybils claiming huge counts do not starve the honest sender of ref-list slots', () => {
    // As anti-entropy does: 2 slots a period, a sender asked in vain rests 4 periods. 10 Sybils claim 1e6
    // refs every period; the one honest sender, which holds what this peer lacks, claims 3.
    const notes: RefListCandidate[] = [
      ...Array.from({ length: 10 }, (_, s) => ({ from: `sybil${s}`, rounds: [0], claimed: 1e6 })),
      { from: 'honest', rounds: [0], claimed: 3 },
    ];
    const periodsUntilHonest = (pick: (period: number, resting: Map<string, number>) => string[]) => {
      const resting = new Map<string, number>();
      for (let period = 0; period < 200; period++) {
        for (const from of pick(period, resting)) {
          if (from === 'honest') return period;
          resting.set(from, period + 4);
        }
      }
      return Infinity;
    };
    // The undefended rule, every slot by claim: the honest sender is never asked.
    const byClaim = (period: number, resting: Map<string, number>) =>
      notes
        .filter((n) => (resting.get(n.from) ?? 0) <= period)
        .sort((a, b) => b.claimed - a.claimed)
        .slice(0, 2)
        .map((n) => n.from);
    expect(periodsUntilHonest(byClaim)).toBe(Infinity);
    const c = new RefListCandidates(64, rng(7));
    const defended = (period: number) => {
      for (const n of notes) c.note(n);
      const chosen = c.choose(2, period).map((x) => x.from);
      for (const from of chosen) if (from !== 'honest') c.rest(from, period + 4);
      return chosen;
    };
    expect(periodsUntilHonest(defended)).toBeLessThanOrEqual(10);
  });
});
