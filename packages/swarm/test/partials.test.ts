import { PROTOCOL_VERSION, type DeltaAnnouncement } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { PartialDeltas } from '../src/partials.js';

/** A header of a `count`-part delta of `count · 100` bytes for `round` (the store trusts the verdict). */
function header(round: number, count: number, index: number): DeltaAnnouncement {
  return {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: 'job',
    round,
    baseRound: round,
    baseModelSha256: 'a'.repeat(64),
    stats: { tokens: 1, steps: 1, meanLoss: 0 },
    codec: 'dense-f32',
    payloadBytes: count * 100,
    payloadSha256: 'b'.repeat(64),
    authorSignature: 'c'.repeat(128),
    partDigests: Array.from({ length: count }, () => 'd'.repeat(64)),
    part: { index, count },
  };
}

const slice = (fill: number) => new Uint8Array(100).fill(fill);

describe('PartialDeltas', () => {
  it('holds at most maxBytes: the partial that advanced least recently goes first, never the one growing', () => {
    const p = new PartialDeltas(1_000);
    // Ten stalled first parts fill the cap.
    for (let i = 0; i < 10; i++) expect(p.add(`sybil-${i}`, header(0, 2, 0), slice(i)).evicted).toEqual([]);
    expect(p.bytes).toBe(1_000);
    // An honest delta of three parts arrives: each part evicts the oldest stalled one, and completes.
    expect(p.add('honest', header(0, 3, 0), slice(1)).evicted).toEqual(['sybil-0']);
    expect(p.add('honest', header(0, 3, 1), slice(2)).evicted).toEqual(['sybil-1']);
    const done = p.add('honest', header(0, 3, 2), slice(3));
    expect(done.evicted).toEqual(['sybil-2']);
    expect(done.payload).toEqual(Uint8Array.from([...slice(1), ...slice(2), ...slice(3)]));
    expect(p.bytes).toBe(700);
    expect(p.get('honest', 0)).toBeUndefined();
    // A whole payload is never held, and replaces parts of the same delta.
    expect(p.add('sybil-5', header(0, 1, 0), slice(9)).payload).toEqual(slice(9));
    expect(p.get('sybil-5', 0)).toBeUndefined();
    expect(p.bytes).toBe(600);
    p.dropBefore(1);
    expect(p.bytes).toBe(0);
  });
});
