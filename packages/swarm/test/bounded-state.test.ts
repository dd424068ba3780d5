import { PROTOCOL_VERSION, encodeFrame, type DeltaAnnouncement } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { AntiEntropy } from '../src/anti-entropy.js';
import { PartialDeltas } from '../src/partials.js';
import { SwarmTimings } from '../src/peer-config.js';
import { RoundState } from '../src/round-state.js';
import { FAKE_TIMINGS, FakeHub } from './fake-network.js';
import { admissionOf, deltaFrame, identities, stampFor } from './identities.js';
import { deltaOf, smallJob } from './parts.fixture.js';

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
    admission: { kind: 'pow', nonce: '00'.repeat(8) },
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

describe('per-peer tables', () => {
  it('the highest round per author: at most maxPeersTracked authors, none past the staleness window', async () => {
    const ids = await identities(20);
    const { manifest, layout, w0 } = smallJob();
    const refused: string[] = [];
    const hold = {
      timings: { ...SwarmTimings.parse({}), maxPeersTracked: 16 },
      counters: { refused: (peer: string) => void refused.push(peer) },
    };
    const s = new RoundState({ manifest, layout, weights: w0, hold });
    const deltas = ids.map((who) => deltaOf(s, who));
    for (const [i, { parts }] of deltas.entries())
      s.offer(deltaFrame(parts[0]!.header, parts[0]!.bytes), ids[i]!.id, 0);
    expect(s.acceptedCount()).toBe(20);
    // Twenty authors signed round 0; the four written first are forgotten (their deltas are held still).
    expect(ids.map((who) => s.lastRoundOf(who.id) !== undefined)).toEqual(ids.map((_, i) => i >= 4));
    // Rounds go by: past maxStaleness + 1 rounds nothing is kept, and an old delta is refused as late.
    for (let r = 0; r < manifest.round.maxStaleness + 2; r++) s.close(0);
    expect(ids.some((who) => s.lastRoundOf(who.id) !== undefined)).toBe(false);
    const p = deltas[19]!.parts[0]!;
    expect(s.offer(deltaFrame(p.header, p.bytes), ids[19]!.id, 0)).toEqual({
      action: 'ignore',
      reason: 'late',
    });
    expect(refused).toEqual([]);
  });

  it('neighbour views from summaries: at most maxPeersTracked, silent ones dropped after peerTimeoutMs', async () => {
    const { manifest, state } = smallJob();
    const s = state();
    const hub = new FakeHub();
    const [me] = await identities(1);
    const net = hub.join(me!, 'worker', SwarmTimings.parse({ ...FAKE_TIMINGS, maxPeersTracked: 16 }));
    const ae = new AntiEntropy(net, manifest, admissionOf(manifest, me!), {
      rounds: () => s,
      offer: () => ({ action: 'accept', completed: null }),
    });
    // Each sender's summary carries its own stamp (an unadmitted one is not even stored).
    const summary = (from: string) => encodeFrame({ ...ae.summary(s), admission: stampFor(manifest, from) });
    for (let i = 0; i < 20; i++) ae.onSummary({ from: `peer-${i}`, data: summary(`peer-${i}`) }, 1_000 + i);
    expect(ae.views.size).toBe(16);
    expect(ae.views.has('peer-3')).toBe(false);
    expect(ae.views.has('peer-19')).toBe(true);
    ae.onSummary({ from: 'late', data: summary('late') }, 1_019 + manifest.round.peerTimeoutMs + 1);
    expect([...ae.views.keys()]).toEqual(['late']);
  });
});
