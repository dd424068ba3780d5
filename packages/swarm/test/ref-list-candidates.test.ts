import { describe, expect, it } from 'vitest';
import { RefListCandidates } from '../src/ref-list-candidates.js';

describe('RefListCandidates', () => {
  it('chooses at most k, most refs claimed first, and forgets the rest until named again', () => {
    const c = new RefListCandidates(16);
    for (const [from, claimed] of [
      ['a', 3],
      ['b', 9],
      ['c', 5],
    ] as const)
      c.note({ from, rounds: [0], claimed });
    expect(c.choose(2, 0).map((x) => x.from)).toEqual(['b', 'c']);
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
});
