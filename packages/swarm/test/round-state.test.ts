import { describe, expect, it } from 'vitest';
import { encodeDeltaPayload, modelSha256, sha256Hex } from '../src/wire.js';
import { ErrorFeedbackEncoder, encodeDelta } from '../src/codec.js';
import { makeContribution, type ContributionPart } from '../src/contribution.js';
import { RoundState } from '../src/round-state.js';
import { deltaFrame, identities, signedBy, stampFor, type Identity } from './identities.js';
import { densify } from '../src/aggregate.js';
import { StaleContributionError } from '../src/errors.js';
import { ModelLayout } from '../src/model-layout.js';
import { localSteps, syntheticManifest, syntheticProblem } from '../bench/synthetic-problem.js';
import { PROTOCOL_VERSION, type DeltaAnnouncement, type JobManifest } from '@slimswarm/protocol';

const STATS = { tokens: 100, steps: 5, meanLoss: 1 };
/** p0…p7 make deltas; x0…x7 send garbage. */
const P = await identities(8);
const X = await identities(8);

function setup(peers: number, manifestOverrides: Partial<Parameters<typeof syntheticManifest>[0]> = {}) {
  const problem = syntheticProblem(2048, 11);
  const layout = new ModelLayout(problem.shapes);
  const w0 = new Float32Array(layout.size);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, w0),
    params: layout.size,
    ...manifestOverrides,
  });
  const engines = Array.from({ length: peers }, () => new RoundState({ manifest, layout, weights: w0 }));
  const encoders = engines.map(() => new ErrorFeedbackEncoder(layout.size, manifest.compression));
  return { problem, layout, manifest, engines, encoders };
}

/** A delta from `peer`'s local weights, signed by it. */
function contribution(
  engine: RoundState,
  encoder: ErrorFeedbackEncoder,
  peer: Identity,
  localWeights: Float32Array,
  maxPartBytes = 1 << 20,
  base?: { round: number; sha256: string },
) {
  return makeContribution(engine, {
    encoder,
    peer: peer.id,
    base,
    localWeights,
    stats: STATS,
    maxPartBytes,
    sign: peer.sign,
    admission: stampFor(engine.manifest, peer.id),
  });
}

function offer(to: RoundState, from: Identity, header: DeltaAnnouncement, bytes: Uint8Array) {
  return to.offer(deltaFrame(header, bytes), from.id, 0);
}

function deliver(to: RoundState, from: Identity, parts: ContributionPart[]) {
  return parts.map((p) => to.offer(deltaFrame(p.header, p.bytes), from.id, 0));
}

describe('RoundState', () => {
  it('8 peers that accept the same deltas hold bitwise-identical models, and the loss falls', () => {
    const { problem, layout, engines, encoders } = setup(8, { codec: 'topk-int8', topkFraction: 0.1 });
    const initialLoss = problem.loss(engines[0]!.weights);
    for (let round = 0; round < 6; round++) {
      const contributions = engines.map((e, i) =>
        contribution(e, encoders[i]!, P[i]!, localSteps(problem, i, e.weights, 5, 0.5), 300),
      );
      engines.forEach((e, i) => {
        e.addOwn(contributions[i]!.delta, 0);
        contributions.forEach((c, j) => {
          if (j !== i) expect(deliver(e, P[j]!, c.parts).map((v) => v.action)).not.toContain('reject');
        });
        expect(e.shouldClose(8, 0)).toBe(true);
        e.close(0);
      });
      // The payload was split into several parts, and every engine reassembled it.
      expect(contributions[0]!.parts.length).toBeGreaterThan(1);
    }
    const sha = engines[0]!.modelSha256;
    for (const e of engines) {
      expect(e.round).toBe(6);
      expect(e.modelSha256).toBe(sha);
      expect(Buffer.from(e.weights.buffer).equals(Buffer.from(engines[0]!.weights.buffer))).toBe(true);
      expect(Buffer.from(e.momentum.buffer).equals(Buffer.from(engines[0]!.momentum.buffer))).toBe(true);
    }
    expect(modelSha256(layout, engines[0]!.weights)).toBe(sha);
    expect(problem.loss(engines[0]!.weights)).toBeLessThan(0.5 * initialLoss);
  });

  it('merge order is canonical: delivery order does not change the bits', () => {
    const { problem, engines, encoders } = setup(3, { codec: 'dense-f32' });
    const cs = engines.map((e, i) =>
      contribution(e, encoders[i]!, P[i]!, localSteps(problem, i, e.weights, 3, 0.5)),
    );
    const [a, b, c] = engines as [RoundState, RoundState, RoundState];
    a.addOwn(cs[0]!.delta, 0);
    deliver(a, P[1]!, cs[1]!.parts);
    deliver(a, P[2]!, cs[2]!.parts);
    c.addOwn(cs[2]!.delta, 0);
    deliver(c, P[1]!, cs[1]!.parts);
    deliver(c, P[0]!, cs[0]!.parts);
    a.close(0);
    c.close(0);
    expect(c.modelSha256).toBe(a.modelSha256);
    // A peer that missed one delta disagrees, and adopting the majority model repairs it.
    b.addOwn(cs[1]!.delta, 0);
    deliver(b, P[0]!, cs[0]!.parts);
    b.close(0);
    expect(b.modelSha256).not.toBe(a.modelSha256);
    b.adopt(a.round, a.weights, a.momentum, a.pastModels);
    expect(b.modelSha256).toBe(a.modelSha256);
  });

  it('closes on quorum, or on the deadline with fewer deltas, never below minDeltas', () => {
    const { problem, engines, encoders } = setup(3, {
      round: { quorumFraction: 1, deadlineMs: 1000, minDeltas: 2 },
    });
    const [a] = engines as [RoundState];
    const c0 = contribution(a, encoders[0]!, P[0]!, localSteps(problem, 0, a.weights, 1, 0.5));
    a.addOwn(c0.delta, 100);
    expect(a.shouldClose(3, 5000)).toBe(false); // below minDeltas even after the deadline
    const c1 = contribution(engines[1]!, encoders[1]!, P[1]!, localSteps(problem, 1, a.weights, 1, 0.5));
    deliver(a, P[1]!, c1.parts);
    expect(a.shouldClose(3, 500)).toBe(false); // 2 of 3 active, deadline not reached
    expect(a.shouldClose(3, 1100)).toBe(true); // deadline
    expect(a.shouldClose(2, 500)).toBe(true); // quorum once the third peer is no longer active
  });

  it('a delta computed from the previous model joins the open round (maxStaleness 1), an older one does not', () => {
    const { problem, layout, engines, encoders } = setup(3, { codec: 'dense-f32', errorFeedback: false });
    const [a, b, c] = engines as [RoundState, RoundState, RoundState];
    const g0 = { round: 0, sha256: a.modelSha256 };
    const w0 = Float32Array.from(c.weights);
    // c is slow: it starts from g_0 but round 0 closes with a's and b's deltas only.
    const slow = localSteps(problem, 2, w0, 3, 0.5);
    const round0 = [a, b].map((e, i) =>
      contribution(e, encoders[i]!, P[i]!, localSteps(problem, i, e.weights, 3, 0.5)),
    );
    for (const e of engines) {
      round0.forEach((r, i) => (e === engines[i] ? e.addOwn(r.delta, 0) : deliver(e, P[i]!, r.parts)));
      e.close(0);
    }
    // Round 1: a and b from g_1, c's delta from g_0, exactly g_0 − w_local.
    const round1 = [a, b].map((e, i) =>
      contribution(e, encoders[i]!, P[i]!, localSteps(problem, i, e.weights, 3, 0.5)),
    );
    const stale = contribution(c, encoders[2]!, P[2]!, slow, 1 << 20, g0);
    expect(stale.delta.header).toMatchObject({ round: 1, baseRound: 0, baseModelSha256: g0.sha256 });
    expect(densify(stale.delta.delta)).toEqual(w0.map((w, i) => w - slow[i]!));
    // A peer that synced at round 1 learns g_0's hash with the weights and accepts it too.
    const synced = new RoundState({
      manifest: a.manifest,
      layout,
      weights: a.weights,
      momentum: a.momentum,
      round: a.round,
      pastModels: a.pastModels,
    });
    const closed = [...engines, synced].map((e) => {
      const all = [...round1, stale];
      all.forEach((r, i) =>
        e === engines[i]
          ? e.addOwn(r.delta, 0)
          : expect(deliver(e, P[i]!, r.parts).map((v) => v.action)).toEqual(['accept']),
      );
      return e.close(0);
    });
    for (const r of closed) expect(r).toMatchObject({ round: 1, accepted: 3, stale: 1 });
    expect(new Set(closed.map((r) => r.modelSha256)).size).toBe(1);
    // Two rounds old is past maxStaleness: c cannot build on it, and nobody accepts it.
    expect(() => contribution(c, encoders[2]!, P[2]!, slow, 1 << 20, g0)).toThrow(StaleContributionError);
    const old = contribution(a, encoders[0]!, P[0]!, localSteps(problem, 0, a.weights, 1, 0.5));
    const tooOld = signedBy(P[0]!, { ...old.parts[0]!.header, baseRound: 0, baseModelSha256: g0.sha256 });
    expect(offer(b, P[0]!, tooOld, old.parts[0]!.bytes)).toEqual({
      action: 'reject',
      reason: 'unknown-base',
    });
  });

  it('with maxStaleness 0 rounds are strictly synchronous', () => {
    const { problem, engines, encoders } = setup(2, {
      codec: 'dense-f32',
      round: { quorumFraction: 1, deadlineMs: 1000, minDeltas: 1, maxStaleness: 0 },
    });
    const [a, b] = engines as [RoundState, RoundState];
    const g0 = { round: 0, sha256: a.modelSha256 };
    const slow = localSteps(problem, 1, b.weights, 1, 0.5);
    const first = contribution(a, encoders[0]!, P[0]!, localSteps(problem, 0, a.weights, 1, 0.5));
    a.addOwn(first.delta, 0);
    deliver(b, P[0]!, first.parts);
    a.close(0);
    b.close(0);
    expect(b.pastModels).toEqual([]);
    expect(() => contribution(b, encoders[1]!, P[1]!, slow, 1 << 20, g0)).toThrow(StaleContributionError);
  });

  describe('rejects every invalid input class and stays unaffected', () => {
    function fixture() {
      const s = setup(2, { codec: 'dense-f32', aggregation: { rule: 'mean', normBound: 50 } });
      const [a, b] = s.engines as [RoundState, RoundState];
      const honest = contribution(b, s.encoders[1]!, P[1]!, localSteps(s.problem, 1, b.weights, 1, 0.1));
      const before = a.modelSha256;
      return { ...s, a, b, honest, before };
    }
    /** The digests a header names for `payload` sent whole. */
    const digestsOf = (payload: Uint8Array) => ({
      payloadSha256: sha256Hex(payload),
      partDigests: [sha256Hex(payload)],
    });

    /** A delta `who` signs over whatever the test puts in it. */
    function forged(
      who: Identity,
      m: JobManifest,
      base: string,
      round: number,
      delta: Float32Array,
      patch: Partial<DeltaAnnouncement> = {},
    ) {
      const payload = encodeDeltaPayload(
        encodeDelta(delta, { codec: m.compression.codec, topkFraction: 0.1 }),
      );
      const header: DeltaAnnouncement = {
        type: 'delta-announce',
        version: PROTOCOL_VERSION,
        jobId: m.jobId,
        round,
        baseRound: round,
        baseModelSha256: base,
        stats: STATS,
        codec: m.compression.codec,
        payloadBytes: payload.length,
        authorSignature: '',
        admission: stampFor(m, who.id),
        ...digestsOf(payload),
        part: { index: 0, count: 1 },
        ...patch,
      };
      return { header: signedBy(who, header), payload };
    }

    it('each reason', () => {
      const { a, manifest, layout, honest, before } = fixture();
      const small = new Float32Array(layout.size).fill(0.01);
      const cases: [string, ReturnType<typeof forged>][] = [
        ['wrong-job', forged(X[0]!, manifest, before, 0, small, { jobId: 'other-job' })],
        ['wrong-codec', forged(X[1]!, manifest, before, 0, small, { codec: 'dense-f16' })],
        ['wrong-round', forged(X[2]!, manifest, before, 5, small)],
        ['unknown-base', forged(X[3]!, manifest, 'f'.repeat(64), 0, small)],
        ['norm-bound', forged(X[4]!, manifest, before, 0, new Float32Array(layout.size).fill(10))],
        ['oversize', forged(X[5]!, manifest, before, 0, small, { payloadBytes: 1 << 23 })],
        ['bad-digest', forged(X[6]!, manifest, before, 0, small, { payloadSha256: 'a'.repeat(64) })],
      ];
      cases.forEach(([reason, f], i) =>
        expect(offer(a, X[i]!, f.header, f.payload)).toEqual({ action: 'reject', reason }),
      );
      const y = X[7]!;
      const nan = forged(y, manifest, before, 0, small);
      new Float32Array(nan.payload.buffer, nan.payload.byteOffset + nan.payload.length - 4, 1)[0] = NaN;
      expect(offer(a, y, signedBy(y, { ...nan.header, ...digestsOf(nan.payload) }), nan.payload)).toEqual({
        action: 'reject',
        reason: 'non-finite',
      });
      const garbage = new Uint8Array(64).fill(7);
      expect(
        offer(a, y, signedBy(y, { ...nan.header, payloadBytes: 64, ...digestsOf(garbage) }), garbage),
      ).toEqual({
        action: 'reject',
        reason: 'malformed',
      });
      expect(offer(a, y, nan.header, nan.payload.subarray(1))).toEqual({
        action: 'reject',
        reason: 'malformed',
      });
      // The honest delta is accepted once; again while open it is a harmless duplicate.
      const p = honest.parts[0]!;
      expect(offer(a, P[1]!, p.header, p.bytes).action).toBe('accept');
      expect(offer(a, P[1]!, p.header, p.bytes)).toEqual({ action: 'ignore', reason: 'duplicate' });
      expect(a.acceptedCount()).toBe(1);
      a.close(0);
      // After the round closed: the same message again is late (ignored); once the author moved on, an old
      // round from it is a replay.
      expect(offer(a, P[1]!, p.header, p.bytes)).toEqual({ action: 'ignore', reason: 'late' });
      const next = forged(P[1]!, manifest, a.modelSha256, 1, small);
      expect(offer(a, P[1]!, next.header, next.payload).action).toBe('accept');
      a.close(0);
      expect(offer(a, P[1]!, p.header, p.bytes)).toEqual({ action: 'reject', reason: 'replay' });
      // A different delta for one round from the same author is an equivocation: both go, and the author
      // is banned (equivocation.test.ts).
      const mine = forged(P[1]!, manifest, a.modelSha256, 2, small);
      expect(offer(a, P[1]!, mine.header, mine.payload).action).toBe('accept');
      const other = forged(P[1]!, manifest, a.modelSha256, 2, new Float32Array(layout.size).fill(0.02));
      expect(offer(a, P[1]!, other.header, other.payload)).toMatchObject({
        action: 'reject',
        reason: 'equivocation',
      });
      expect(a.acceptedCount()).toBe(0);
      expect(offer(a, P[1]!, mine.header, mine.payload)).toEqual({ action: 'reject', reason: 'banned' });
    });

    it('honest peers that saw the garbage agree with one that did not', () => {
      const { a, b, manifest, layout, honest, before, encoders, problem } = fixture();
      const own = contribution(a, encoders[0]!, P[0]!, localSteps(problem, 0, a.weights, 1, 0.1));
      a.addOwn(own.delta, 0);
      deliver(a, P[1]!, honest.parts);
      const bad = forged(X[0]!, manifest, before, 0, new Float32Array(layout.size).fill(10));
      expect(offer(a, X[0]!, bad.header, bad.payload).action).toBe('reject');
      b.addOwn(honest.delta, 0);
      deliver(b, P[0]!, own.parts);
      a.close(0);
      b.close(0);
      expect(a.modelSha256).toBe(b.modelSha256);
    });
  });
});
