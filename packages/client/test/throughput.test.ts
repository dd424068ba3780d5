/**
 * Tokens per second has one definition (src/throughput.ts): tokens of the round's local steps over the
 * wall time of those steps. The unit checks the arithmetic; the volunteer check shows the step event, the
 * round event and the heartbeat figure (reportProgress) are that one number, untouched by a slow merge.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createNaiveEngine } from '@slimswarm/performer';
import { createNodePeer, SwarmReplica, type SwarmPeer, type TrainerProgress } from '@slimswarm/swarm';
import { RoundThroughput, runVolunteer, type VolunteerEvent } from '../src/index.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

describe('RoundThroughput', () => {
  it('divides the tokens of the counted steps by their time, and nothing else', async () => {
    let now = 1_000;
    const throughput = new RoundThroughput(() => now);
    expect(throughput.tokensPerSec).toBe(0);
    await throughput.time(async () => {
      now += 250; // a 250 ms step of 100 tokens
      return { tokens: 100 };
    });
    expect(throughput.tokensPerSec).toBe(400);
    now += 10_000; // waiting between steps (a pause, the merge) is not counted
    throughput.add(300, 750);
    expect(throughput.tokens).toBe(400);
    expect(throughput.tokensPerSec).toBe(400);
  });
});

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

async function* phrases(): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('tokens per second, defined once. '.repeat(32));
  for (let i = 0; ; i = (i + 5) % (text.length - L - 1)) yield Int32Array.from(text.subarray(i, i + L + 1));
}

describe('the volunteer reports one tokens/s figure', () => {
  const peers: SwarmPeer[] = [];
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));
  afterEach(() => vi.restoreAllMocks());

  it('in the last step event, the round event and the heartbeats, whatever the merge takes', async () => {
    const base = baseCheckpoint();
    const peer = await createNodePeer({ ...FAST, listen: ['/memory/throughput-a'] });
    peers.push(peer);
    const reported: TrainerProgress[] = [];
    const report = SwarmReplica.prototype.reportProgress;
    vi.spyOn(SwarmReplica.prototype, 'reportProgress').mockImplementation(function (this: SwarmReplica, p) {
      reported.push(p);
      report.call(this, p);
    });
    // A merge that takes long: it must not lower the figure.
    const nextRound = SwarmReplica.prototype.nextRound;
    vi.spyOn(SwarmReplica.prototype, 'nextRound').mockImplementation(async function (this: SwarmReplica, s) {
      await new Promise((r) => setTimeout(r, 1_000));
      return nextRound.call(this, s);
    });
    const events: VolunteerEvent[] = [];
    await runVolunteer({
      manifest: manifestFor(base),
      peer,
      engine: createNaiveEngine(model),
      engineName: 'naive',
      base,
      sequences: phrases(),
      rounds: 1,
      joinTimeoutMs: 300,
      emit: (e) => events.push(e),
    });
    const steps = events.filter((e) => e.event === 'step');
    const round = events.find((e) => e.event === 'round');
    expect(steps).toHaveLength(manifestFor(base).training.localSteps);
    const figure = steps.at(-1)!.tokensPerSec;
    expect(figure).toBeGreaterThan(0);
    expect(round?.event === 'round' && round.tokensPerSec).toBe(figure);
    expect(reported.map((p) => p.tokensPerSec)).toEqual([figure]);
    // The steps took far less than the merge's second: counting the wait would have cut it several times.
    const tokens = round?.event === 'round' ? round.tokens : 0;
    expect(figure).toBeGreaterThan(tokens * 2);
  });
});
