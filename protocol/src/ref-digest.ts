/**
 * The digest an anti-entropy summary carries instead of its ref list (`HeldRound.digest`): SHA-256 of one
 * line `author payloadSha256\n` per ref of the round, sorted by author (code units). Two peers holding the
 * same deltas for a round compute the same digest whatever order they received them in.
 */
import { sha256Hex } from './hash.js';
import type { DeltaRef, HeldRound } from './messages.js';

const utf8 = new TextEncoder();

/** The digest of `refs`, all of one round (the caller groups them). */
export function refSetDigest(refs: readonly DeltaRef[]): string {
  const lines = refs.map((r) => `${r.peer} ${r.payloadSha256}\n`).sort(); // code-unit order
  return sha256Hex(utf8.encode(lines.join('')));
}

/** Refs sorted as a `delta-refs` answer lists them: by round, then author (code units). */
export function sortRefs<T extends DeltaRef>(refs: readonly T[]): T[] {
  return [...refs].sort((a, b) => a.round - b.round || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
}

/** What a summary says of `refs` for `round` and `round + 1` (its `held`); refs of other rounds are left out. */
export function heldRounds(round: number, refs: readonly DeltaRef[]): [HeldRound, HeldRound] {
  const of = (r: number): HeldRound => {
    const inRound = refs.filter((x) => x.round === r);
    return { count: inRound.length, digest: refSetDigest(inRound) };
  };
  return [of(round), of(round + 1)];
}
