import { describe, expect, it } from 'vitest';
import { heldRounds, refSetDigest, sha256Hex, sortRefs } from '../src/index.js';

const ref = (round: number, peer: string, byte: string) => ({ round, peer, payloadSha256: byte.repeat(32) });

describe('refSetDigest', () => {
  it('depends on the set, not the order it was received in', () => {
    const x = [ref(3, 'b', 'aa'), ref(3, 'a', 'bb'), ref(3, 'c', 'cc')];
    expect(refSetDigest(x)).toBe(refSetDigest([...x].reverse()));
    expect(refSetDigest(x)).toBe(
      sha256Hex(
        new TextEncoder().encode(`a ${'bb'.repeat(32)}\nb ${'aa'.repeat(32)}\nc ${'cc'.repeat(32)}\n`),
      ),
    );
  });

  it('tells another payload for one author apart (an equivocation shows as a differing digest)', () => {
    expect(refSetDigest([ref(3, 'a', 'aa')])).not.toBe(refSetDigest([ref(3, 'a', 'ab')]));
  });

  it('heldRounds counts and hashes the open round and the next, leaving other rounds out', () => {
    const refs = [ref(4, 'b', 'aa'), ref(3, 'a', 'bb'), ref(5, 'c', 'cc'), ref(3, 'c', 'dd')];
    const [open, next] = heldRounds(3, refs);
    expect(open).toEqual({ count: 2, digest: refSetDigest([refs[1]!, refs[3]!]) });
    expect(next).toEqual({ count: 1, digest: refSetDigest([refs[0]!]) });
    expect(heldRounds(9, refs)[0]).toEqual({ count: 0, digest: refSetDigest([]) });
  });

  it('sortRefs orders by round, then author', () => {
    const refs = [ref(4, 'a', 'aa'), ref(3, 'b', 'bb'), ref(3, 'a', 'cc')];
    expect(sortRefs(refs).map((r) => `${r.round}${r.peer}`)).toEqual(['3a', '3b', '4a']);
  });
});
