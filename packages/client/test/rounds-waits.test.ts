/**
 * The waits a volunteer's rounds no longer have (rounds.ts): the next local steps overlap the close of
 * the round the last delta joined, the held-out evaluation runs every `evalEvery` rounds, checkpoints are
 * written off the critical path, and the round event says where the wall time went (phases.ts). Real
 * peers on the memory transport, the naive engine on the tiny test model.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createNaiveEngine, type GradientEngine } from '@slimswarm/performer';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import { runVolunteer, type SavedVolunteer, type VolunteerEvent, type VolunteerStore } from '../src/index.js';
import { carryProgress } from '../src/carry.js';
import { PhaseClock } from '../src/phases.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};
const H = 4; // the test job's local steps

async function* phrases(offset = 0): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('no volunteer waits for nothing. '.repeat(32));
  for (let i = offset; ; i = (i + 5) % (text.length - L - 1))
    yield Int32Array.from(text.subarray(i, i + L + 1));
}

const heldOut = [
  Int32Array.from(new TextEncoder().encode('no volunteer waits. '.repeat(2)).subarray(0, L + 1)),
];

/** The naive engine, whose first training step waits for `gate` (a slower peer). */
function gatedEngine(gate: Promise<void>): GradientEngine {
  const engine = createNaiveEngine(model);
  return {
    ...engine,
    lossAndGrad: async (params, tokens, features) => {
      await gate;
      return engine.lossAndGrad(params, tokens, features);
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

type RoundEvent = Extract<VolunteerEvent, { event: 'round' }>;
const roundsOf = (events: VolunteerEvent[]) => events.filter((e): e is RoundEvent => e.event === 'round');
type EvalEvent = Extract<VolunteerEvent, { event: 'eval' }>;

describe('carryProgress', () => {
  it('puts the progress beyond the anchor on top of the new shared model', () => {
    const out = carryProgress(
      { w: Float32Array.of(1, 5) },
      { w: Float32Array.of(0.5, 2) },
      { w: Float32Array.of(10, 20) },
    );
    expect(Array.from(out.w!)).toEqual([10.5, 23]);
    expect(() =>
      carryProgress({ w: Float32Array.of(1) }, { w: Float32Array.of(1, 2) }, { w: Float32Array.of(1, 2) }),
    ).toThrow(RangeError);
  });
});

describe('PhaseClock', () => {
  it('splits an interval into its phases; the rest is in the wall time only', async () => {
    let now = 0;
    const clock = new PhaseClock(() => now);
    await clock.time('train', async () => void (now += 30));
    clock.measure('checkpoint', () => void (now += 5));
    now += 10; // between phases
    await clock.time('wait', async () => void (now += 55));
    expect(clock.lap()).toEqual({
      wallMs: 100,
      phaseMs: { train: 30, wait: 55, evaluate: 0, checkpoint: 5 },
    });
    expect(clock.lap().wallMs).toBe(0);
  });
});

describe('the rounds do not wait for what they need not', () => {
  const peers: SwarmPeer[] = [];
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));
  const base = baseCheckpoint();
  const manifest = manifestFor(base);
  const volunteer = (peer: SwarmPeer, i: number, events: VolunteerEvent[], more: object = {}) =>
    runVolunteer({
      manifest,
      peer,
      engine: createNaiveEngine(model),
      engineName: 'naive',
      base,
      sequences: phrases(i * 11),
      joinTimeoutMs: 1_000,
      emit: (e) => events.push(e),
      ...more,
    });

  it('trains the next steps while its round waits for a slower peer, and both end on one model', async () => {
    const [a, b] = await Promise.all(
      ['a', 'b'].map((n) => createNodePeer({ ...FAST, listen: [`/memory/waits-${n}`] })),
    );
    peers.push(a!, b!);
    await b!.dial(a!.getMultiaddrs()[0]!);
    // b does not start its steps before a has begun its second round's: a's first round cannot close
    // before b's delta, so a step H + 1 before a's first round event is a step taken while it waited.
    const aAhead = deferred();
    const fast: VolunteerEvent[] = [];
    const slow: VolunteerEvent[] = [];
    const emitFast = (e: VolunteerEvent) => {
      fast.push(e);
      if (fast.filter((f) => f.event === 'step').length > H) aAhead.resolve();
    };
    const [ra, rb] = await Promise.all([
      volunteer(a!, 0, fast, { rounds: 3, emit: emitFast, overlapSteps: 1 }),
      volunteer(b!, 1, slow, { rounds: 3, engine: gatedEngine(aAhead.promise) }),
    ]);
    expect(ra.modelSha256).toBe(rb.modelSha256);
    const firstRound = fast.findIndex((e) => e.event === 'round');
    const stepsBefore = fast.slice(0, firstRound).filter((e) => e.event === 'step').length;
    // One step (its bound) while the round waited, then it waited too.
    expect(stepsBefore).toBe(H + 1);
    const rounds = roundsOf(fast);
    expect(rounds.every((r) => r.staleSteps <= 1)).toBe(true);
    expect(rounds.some((r) => r.staleSteps === 1)).toBe(true);
    expect(rounds).toHaveLength(3);
    expect(rounds.every((r) => r.contributors.length === 2)).toBe(true);
    // An interval may hold no training (the last one: nothing more to train while the round closes).
    for (const { phaseMs, wallMs } of rounds) {
      const { train, wait, evaluate, checkpoint } = phaseMs;
      expect(train + wait + evaluate + checkpoint).toBeLessThanOrEqual(wallMs + 1);
    }
    expect(rounds.reduce((sum, r) => sum + r.phaseMs.train, 0)).toBeGreaterThan(0);
    // The steps overlapped the wait: a still waited for b in its first round, and the split says so.
    expect(rounds[0]!.phaseMs.wait).toBeGreaterThan(0);
    expect(fast.at(-1)!.event).toBe('stopped');
  }, 60_000);

  it('evaluates at the start, every evalEvery rounds and after the last round', async () => {
    const peer = await createNodePeer({ ...FAST, listen: ['/memory/waits-eval'] });
    peers.push(peer);
    const events: VolunteerEvent[] = [];
    const summary = await volunteer(peer, 0, events, { rounds: 5, heldOut, evalEvery: 2 });
    const evals = events.filter((e): e is EvalEvent => e.event === 'eval');
    // Alone, it starts on the base (round 0) and every delta closes its own round.
    expect(evals.map((e) => e.round)).toEqual([0, 2, 4, 5]);
    expect(summary.heldOutLoss).toBe(evals.at(-1)!.heldOutLoss);
    expect(roundsOf(events).some((r) => r.phaseMs.evaluate > 0)).toBe(true);
  }, 60_000);

  it('writes checkpoints in the background, one at a time, and flushes the last before it stops', async () => {
    const peer = await createNodePeer({ ...FAST, listen: ['/memory/waits-save'] });
    peers.push(peer);
    const events: VolunteerEvent[] = [];
    // The first write does not finish before the volunteer has reported two more rounds: if rounds
    // waited for their checkpoint, this run would never end.
    const released = deferred();
    let writes = 0;
    const store: VolunteerStore & { saved: SavedVolunteer | null } = {
      saved: null,
      load: async () => null,
      save: async (s) => {
        if (++writes === 1) await released.promise;
        store.saved = s;
        return 'slow-disk';
      },
    };
    const emit = (e: VolunteerEvent) => {
      events.push(e);
      if (roundsOf(events).length >= 3) released.resolve();
    };
    const summary = await volunteer(peer, 0, events, { rounds: 4, store, emit });
    const checkpoints = events.filter((e) => e.event === 'checkpoint');
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    expect(writes).toBeLessThan(4); // rounds 2 and 3 found the first write still going
    expect(events.at(-1)!.event).toBe('stopped');
    expect(store.saved!.state.modelSha256).toBe(summary.modelSha256);
    expect(checkpoints.at(-1)!.event === 'checkpoint' && checkpoints.at(-1)!.step).toBe(summary.steps);
  }, 60_000);

  it('fails the run with the error of a checkpoint write that failed in the background', async () => {
    const peer = await createNodePeer({ ...FAST, listen: ['/memory/waits-fail'] });
    peers.push(peer);
    const store: VolunteerStore = {
      load: async () => null,
      save: async () => {
        throw new Error('disk full');
      },
    };
    await expect(volunteer(peer, 0, [], { rounds: 3, store })).rejects.toThrow('disk full');
  }, 60_000);
});
