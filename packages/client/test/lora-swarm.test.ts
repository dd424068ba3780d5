/**
 * A LoRA job end to end with real parts: three libp2p peers on the in-process memory transport, each a
 * volunteer with the naive engine holding the frozen base, the job's manifest asking for rank-2 'b'
 * adapters. The replicas, deltas and merges are over the trainable adapters only, and after a few rounds
 * all three hold bitwise-identical adapters (same model hash), moved away from their zero start.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { JobManifest } from '@slimswarm/protocol';
import { createNaiveEngine, trainableShapes, type Params } from '@slimswarm/performer';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import { frozenInputs, jobModel, runVolunteer, type VolunteerEvent } from '../src/index.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

async function* phrases(offset: number): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('the swarm adapts the phrase. '.repeat(64));
  for (let i = offset; ; i = (i + 7) % (text.length - L - 1))
    yield Int32Array.from(text.subarray(i, i + L + 1));
}

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

describe('a LoRA swarm', () => {
  const peers: SwarmPeer[] = [];
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));

  it('3 peers reach bitwise-identical adapter replicas', { timeout: 120_000 }, async () => {
    const base = baseCheckpoint();
    const plain = manifestFor(base, 'lora-swarm-test');
    const lora = {
      factors: 'b' as const,
      rank: 2,
      alpha: 4,
      targets: ['q' as const, 'v' as const, 'up' as const],
    };
    const manifest = JobManifest.parse({ ...plain, training: { ...plain.training, lora } });
    const job = jobModel(manifest, base);
    const adapterNames = Object.keys(trainableShapes(model, manifest.training.lora)).sort();
    expect(Object.keys(job.shapes).sort()).toEqual(adapterNames);

    for (let i = 0; i < 3; i++) peers.push(await createNodePeer({ ...FAST, listen: [`/memory/lora-${i}`] }));
    await peers[1]!.dial(peers[0]!.getMultiaddrs()[0]!);
    await peers[2]!.dial(peers[0]!.getMultiaddrs()[0]!);
    await peers[2]!.dial(peers[1]!.getMultiaddrs()[0]!);
    const events: VolunteerEvent[][] = [[], [], []];
    // Each peer's shared model after each round it closed: peers under load may start or stop a round
    // apart, so replicas are compared round by round, not by whichever round each one ended on.
    const shared: Map<number, Params>[] = [new Map(), new Map(), new Map()];
    const run = (peer: SwarmPeer, i: number) => {
      let current: (() => { weights: Params }) | null = null;
      return runVolunteer({
        manifest,
        peer,
        engine: createNaiveEngine(model, frozenInputs(manifest, base)!),
        engineName: 'naive',
        base,
        sequences: phrases(i * 11),
        rounds: 4,
        joinTimeoutMs: 1_000,
        onSharedModel: (get) => {
          if (get) current = get;
        },
        emit: (e) => {
          events[i]!.push(e);
          if (e.event === 'round' && current) shared[i]!.set(e.round, current().weights);
        },
      });
    };
    await Promise.all(peers.map(run));
    const closed = events.map((peerEvents) => {
      const byRound = new Map<number, { sha: string; contributors: number }>();
      for (const e of peerEvents)
        if (e.event === 'round')
          byRound.set(e.round, { sha: e.modelSha256, contributors: e.contributors.length });
      return byRound;
    });
    // Every round two peers both closed ends on the same model on both.
    for (const [round, a] of closed[0]!)
      for (const other of closed.slice(1)) {
        const b = other.get(round);
        if (b) expect(b.sha, `round ${round}`).toBe(a.sha);
      }
    const together = [...closed[0]!.keys()].filter(
      (r) => closed.every((c) => c.has(r)) && closed[0]!.get(r)!.contributors === 3,
    );
    expect(together.length, 'a round all three closed with all three deltas').toBeGreaterThan(0);

    // The shared model is the adapters alone, the same bytes on every peer, and it has trained.
    const round = together.at(-1)!;
    const [first, ...others] = shared.map((byRound) => byRound.get(round)!);
    expect(Object.keys(first!).sort()).toEqual(adapterNames);
    for (const other of others) {
      for (const name of adapterNames) {
        expect(Buffer.from(other![name]!.buffer).equals(Buffer.from(first![name]!.buffer)), name).toBe(true);
      }
    }
    expect(adapterNames.some((name) => first![name]!.some((x) => x !== 0))).toBe(true);
  });
});
