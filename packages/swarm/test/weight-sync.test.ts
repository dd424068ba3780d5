/**
 * Sync by replay: the log, the replay of its records (genuine and forged), the stream exchange with its
 * gate, and the joiner's choice among announced models (Sybil announcers, a minority's own history).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFrame, type DeltaAnnouncement, type RoundRecord } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { DeltaLog, encodeRoundRecord, type LoggedRound } from '../src/delta-log.js';
import { ReplayError, WeightSyncError } from '../src/errors.js';
import { HistoryReplay, type RecordIn } from '../src/history-replay.js';
import { HistorySync } from '../src/history-sync.js';
import type { NeighbourView } from '../src/resync.js';
import type { RoundState } from '../src/round-state.js';
import { DEFAULT_SYNC_LIMITS, SyncGate, fetchHistory, serveWeightSync } from '../src/weight-sync.js';
import type { FrameStream } from '../src/network.js';
import { SwarmTimings } from '../src/peer-config.js';
import { FAKE_TIMINGS, FakeHub } from './fake-network.js';
import { identities, outsider, type Identity } from './identities.js';
import { deltaOf, smallJob } from './parts.fixture.js';

/** Closes `rounds` rounds of `state`, each with a delta of every one of `who`; returns the log. */
function run(state: RoundState, who: Identity[], rounds: number, log = new DeltaLog(1 << 30)): DeltaLog {
  for (let r = 0; r < rounds; r++) {
    who.forEach((id, i) => state.addOwn(deltaOf(state, id, 1 << 20, 0.01 * (i + 1)).delta, 0));
    const c = state.close(0);
    log.append(encodeRoundRecord(state.manifest.jobId, c, c.merged));
  }
  return log;
}

/** A logged round as a replay reads it off the wire. */
function recordIn(r: LoggedRound): RecordIn {
  const [head, ...deltas] = r.frames;
  return {
    record: decodeFrame(head!, { maxBytes: 1 << 20 }).message as RoundRecord,
    recordBytes: head!,
    deltas: deltas.map((bytes) => ({ frame: decodeFrame(bytes, { maxBytes: 1 << 24 }), bytes })),
  };
}

/** `r` with its result hash replaced: a record whose merge is not what it claims. */
function forged(r: LoggedRound, modelSha256: string): LoggedRound {
  const record = recordIn(r).record;
  const deltas = r.frames.slice(1).map((bytes, i) => {
    const f = decodeFrame(bytes, { maxBytes: 1 << 24 });
    return {
      peer: record.authors[i]!,
      header: f.message as never,
      payload: f.tensors.part!.data as Uint8Array,
    };
  });
  return encodeRoundRecord(record.jobId, { ...r, modelSha256 }, deltas);
}

describe('the delta log', () => {
  it('hands out the records from a model it holds, and drops the oldest beyond its budget', async () => {
    const ids = await identities(2);
    const { state } = smallJob();
    const s = state();
    const base = s.modelSha256;
    const log = run(s, ids, 3);
    expect(log.since({ round: 0, modelSha256: base })?.map((r) => r.round)).toEqual([0, 1, 2]);
    expect(log.since({ round: 3, modelSha256: s.modelSha256 })).toEqual([]);
    expect(log.since({ round: 1, modelSha256: base })).toBeNull(); // round 1 did not start from the base
    expect(() => log.append(log.all()[0]!)).toThrow(RangeError);
    const small = new DeltaLog(log.all()[0]!.bytes * 2 + 1);
    small.replace(log.all());
    expect(small.all().map((r) => r.round)).toEqual([1, 2]);
    expect(small.since({ round: 0, modelSha256: base })).toBeNull();
    expect(small.recentAuthors(1)).toEqual(new Set(ids.map((i) => i.id)));
  });
});

describe('replay', () => {
  it('reproduces weights, momentum and past models bitwise from the base', async () => {
    const ids = await identities(3);
    const { state, manifest, layout, w0 } = smallJob({ round: { maxStaleness: 2 } as never });
    const s = state();
    const log = run(s, ids, 4);
    const replay = new HistoryReplay(manifest, layout, { round: 0, weights: w0 });
    for (const r of log.all()) replay.apply(recordIn(r));
    expect(replay.state.modelSha256).toBe(s.modelSha256);
    expect(Buffer.from(replay.state.momentum.buffer).equals(Buffer.from(s.momentum.buffer))).toBe(true);
    expect(replay.state.pastModels).toEqual(s.pastModels);
    expect(replay.records.map((r) => r.bytes)).toEqual(log.all().map((r) => r.bytes));
  });

  it('refuses a forged result, a tampered delta, a re-attributed delta and an empty round', async () => {
    const [a, b] = await identities(2);
    const { state, manifest, layout, w0 } = smallJob();
    const s = state();
    const [r0] = run(s, [a!, b!], 1).all();
    const fresh = () => new HistoryReplay(manifest, layout, { round: 0, weights: w0 });
    expect(() => fresh().apply(recordIn(forged(r0!, 'f'.repeat(64))))).toThrow(/the merge gives/);

    // A copy: decoded frames are views, and the cases below need the untampered bytes.
    const tampered = recordIn({ ...r0!, frames: r0!.frames.map((f) => f.slice()) });
    const part = tampered.deltas[0]!.frame.tensors.part!.data as Uint8Array;
    part[part.length - 1]! ^= 1;
    expect(() => fresh().apply(tampered)).toThrow(/refused \(bad-part-digest\)/);

    const reattributed = recordIn(r0!);
    const stamps = reattributed.deltas.map(({ frame }) => (frame.message as DeltaAnnouncement).admission);
    const eve = await outsider(manifest, stamps);
    reattributed.record = { ...reattributed.record, authors: [eve.id, reattributed.record.authors[1]!] };
    // Its stamp admits the real author, not eve: refused before the signature is even checked.
    expect(() => fresh().apply(reattributed)).toThrow(/refused \(not-admitted\)/);

    const empty = recordIn(r0!);
    empty.record = { ...empty.record, authors: [] };
    empty.deltas = [];
    expect(() => fresh().apply(empty)).toThrow(ReplayError);
  });
});

describe('weight sync over streams (no libp2p)', () => {
  it('replays a peer’s history from the base or from the asker’s own model; refuses what it cannot reach', async () => {
    const [a, b, c, d] = await identities(4);
    const { state, manifest, layout, w0 } = smallJob();
    const s = state();
    const base = s.modelSha256;
    const log = run(s, [c!, d!], 3);
    const hub = new FakeHub();
    const netA = hub.join(a!);
    const netB = hub.join(b!);
    netB.serve(
      'weightSync',
      serveWeightSync(
        netB,
        manifest,
        () => ({ round: s.round, modelSha256: s.modelSha256, log }),
        new SyncGate(DEFAULT_SYNC_LIMITS),
      ),
    );
    const fromBase = await fetchHistory(
      netA,
      b!.id,
      { asked: null, root: { round: 0, weights: w0, modelSha256: base } },
      manifest,
      layout,
    );
    expect(fromBase.state.modelSha256).toBe(s.modelSha256);
    expect(fromBase.records).toHaveLength(3);

    // From its own model of round 2 (replayed to there first), only the last record travels.
    const own = new HistoryReplay(manifest, layout, { round: 0, weights: w0 });
    for (const r of log.all().slice(0, 2)) own.apply(recordIn(r));
    const root = { ...own.state.history(), weights: own.state.weights, momentum: own.state.momentum };
    await new Promise((r) => setTimeout(r, DEFAULT_SYNC_LIMITS.perPeerIntervalMs));
    const tail = await fetchHistory(netA, b!.id, { asked: s.modelSha256, root }, manifest, layout);
    expect(tail.records.map((r) => r.round)).toEqual([2]);
    expect(tail.state.modelSha256).toBe(s.modelSha256);
    // Asked again at once: the gate answers busy.
    await expect(fetchHistory(netA, b!.id, { asked: null, root }, manifest, layout)).rejects.toThrow(/busy/);
  });

  it('a peer serving a forged history is caught by the replay', async () => {
    const [a, b, c] = await identities(3);
    const { state, manifest, layout, w0 } = smallJob();
    const s = state();
    const base = s.modelSha256;
    const honest = run(s, [c!], 2).all();
    const log = new DeltaLog(1 << 30);
    log.replace([honest[0]!, forged(honest[1]!, 'e'.repeat(64))]);
    const hub = new FakeHub();
    const netA = hub.join(a!);
    const netB = hub.join(b!);
    netB.serve(
      'weightSync',
      serveWeightSync(
        netB,
        manifest,
        () => ({ round: 2, modelSha256: 'e'.repeat(64), log }),
        new SyncGate(DEFAULT_SYNC_LIMITS),
      ),
    );
    const ask = { asked: 'e'.repeat(64), root: { round: 0, weights: w0, modelSha256: base } };
    await expect(fetchHistory(netA, b!.id, ask, manifest, layout)).rejects.toThrow(ReplayError);
    expect(WeightSyncError).toBeDefined();
  });
});

/** `stream` with each write held back `delayMs(i)` ms (i counts writes), as a slow link or a slow reader does. */
function slowWrites(stream: FrameStream, delayMs: (i: number) => number): FrameStream {
  let writes = 0;
  return {
    read: (signal) => stream.read(signal),
    write: async (frame, signal) => {
      await sleep(delayMs(writes++), undefined, { signal });
      await stream.write(frame, signal);
    },
    close: (signal) => stream.close(signal),
    abort: (err) => stream.abort(err),
  };
}

describe('weight sync time limits: per frame, and for the whole sync by the records it carries', () => {
  const timings = SwarmTimings.parse({ ...FAKE_TIMINGS, streamTimeoutMs: 1_000 });

  async function syncThrough(delayMs: (i: number) => number, rounds: number) {
    const [a, b, c] = await identities(3);
    const { state, manifest, layout, w0 } = smallJob();
    const s = state();
    const base = s.modelSha256;
    const log = run(s, [c!], rounds);
    const hub = new FakeHub();
    const netA = hub.join(a!, 'worker', timings);
    const netB = hub.join(b!, 'worker', timings);
    const serve = serveWeightSync(
      netB,
      manifest,
      () => ({ round: s.round, modelSha256: s.modelSha256, log }),
      new SyncGate(DEFAULT_SYNC_LIMITS),
    );
    netB.serve('weightSync', (stream, remote) => serve(slowWrites(stream, delayMs), remote));
    const started = Date.now();
    const replay = await fetchHistory(
      netA,
      b!.id,
      { asked: null, root: { round: 0, weights: w0, modelSha256: base } },
      manifest,
      layout,
    );
    return { replay, ms: Date.now() - started, want: s.modelSha256 };
  }

  it('a history that takes longer than one stream timeout in all, each frame in time, syncs whole', async () => {
    // 1 response + 10 × (record + delta) frames, 80 ms each: about 1.7 s, past the 1 s stream timeout.
    const { replay, ms, want } = await syncThrough(() => 80, 10);
    expect(ms).toBeGreaterThan(timings.streamTimeoutMs);
    expect(replay.records).toHaveLength(10);
    expect(replay.state.modelSha256).toBe(want);
  });

  it('a frame held back past the stream timeout ends the sync', async () => {
    await expect(syncThrough((i) => (i === 3 ? 5_000 : 0), 4)).rejects.toThrow();
  });
});

describe('the joiner’s choice', () => {
  it('100 Sybils announcing a forged model and one honest peer: the joiner adopts the honest model', async () => {
    const [joiner, honest, ...sybils] = await identities(102);
    const { state, manifest, layout, w0 } = smallJob();
    const s = state();
    const base = s.modelSha256;
    const log = run(s, [honest!], 3);
    const forgedLog = new DeltaLog(1 << 30);
    forgedLog.replace([...log.all().slice(0, 2), forged(log.all()[2]!, 'f'.repeat(64))]);
    const hub = new FakeHub();
    const netJ = hub.join(joiner!);
    const serve = (who: Identity, src: { round: number; modelSha256: string; log: DeltaLog }) => {
      const net = hub.join(who);
      net.serve(
        'weightSync',
        serveWeightSync(net, manifest, () => src, new SyncGate(DEFAULT_SYNC_LIMITS)),
      );
    };
    serve(honest!, { round: 3, modelSha256: s.modelSha256, log });
    for (const x of sybils) serve(x, { round: 3, modelSha256: 'f'.repeat(64), log: forgedLog });
    const views = new Map<string, NeighbourView>();
    for (const x of sybils) views.set(x.id, { round: 3, modelSha256: 'f'.repeat(64), pastModels: [], at: 0 });
    views.set(honest!.id, { round: 3, modelSha256: s.modelSha256, pastModels: [], at: 0 });
    const sync = new HistorySync(
      netJ,
      manifest,
      { layout, weights: w0, modelSha256: manifest.baseCheckpoint.sha256 },
      1 << 30,
      netJ.logger.forComponent('test'),
    );
    const { replay, from } = await sync.join(views, 5_000, 10);
    expect(from).toBe(honest!.id);
    expect(replay.state.modelSha256).toBe(s.modelSha256);
    expect(sync.log.all()).toHaveLength(3);
    expect(base).toBe(manifest.baseCheckpoint.sha256);
  });

  it('a minority’s own history (valid deltas of its choosing), announced by more keys, loses to the majority’s', async () => {
    const [joiner, ...rest] = await identities(9);
    const honest = rest.slice(0, 3);
    const minority = rest.slice(3, 5);
    const fresh = rest.slice(5); // keys that never contributed: they announce, but add no support
    const { state, manifest, layout, w0 } = smallJob();
    const h = state();
    const honestLog = run(h, honest, 2);
    // The minority replays the honest first round, then merges only its own deltas, and runs ahead.
    const m = state();
    for (const r of honestLog.all().slice(0, 1)) {
      const replay = new HistoryReplay(manifest, layout, { round: 0, weights: w0 });
      replay.apply(recordIn(r));
      m.adopt(replay.state.round, replay.state.weights, replay.state.momentum, replay.state.pastModels);
    }
    const minorityLog = new DeltaLog(1 << 30);
    minorityLog.replace(honestLog.all().slice(0, 1));
    run(m, minority, 3, minorityLog);
    const hub = new FakeHub();
    const netJ = hub.join(joiner!);
    const views = new Map<string, NeighbourView>();
    const serve = (who: Identity, s: RoundState, log: DeltaLog) => {
      const net = hub.join(who);
      net.serve(
        'weightSync',
        serveWeightSync(
          net,
          manifest,
          () => ({ round: s.round, modelSha256: s.modelSha256, log }),
          new SyncGate(DEFAULT_SYNC_LIMITS),
        ),
      );
      views.set(who.id, { round: s.round, modelSha256: s.modelSha256, pastModels: [], at: 0 });
    };
    for (const x of honest) serve(x, h, honestLog);
    for (const x of [...minority, ...fresh]) serve(x, m, minorityLog);
    const sync = new HistorySync(
      netJ,
      manifest,
      { layout, weights: w0, modelSha256: manifest.baseCheckpoint.sha256 },
      1 << 30,
      netJ.logger.forComponent('test'),
    );
    const { replay } = await sync.join(views, 5_000, 10);
    expect(replay.state.modelSha256).toBe(h.modelSha256);
    expect(m.round).toBeGreaterThan(h.round); // the minority ran ahead, and still lost
  });
});
