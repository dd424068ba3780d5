/**
 * The volunteer loop with real parts: two libp2p peers on the in-process memory transport, the naive
 * gradient engine on a tiny model, a real job manifest and base checkpoint. Both volunteers end on the
 * same shared model, the held-out loss falls, and saved state resumes (or is refused for another job).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createNaiveEngine } from '@slimswarm/performer';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import {
  runVolunteer,
  IncompatibleStateError,
  type VolunteerEvent,
  type SavedVolunteer,
  type VolunteerStore,
} from '../src/index.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

/** Endless sequences of a repeated phrase, each volunteer from its own offset. */
async function* phrases(offset: number): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('the swarm learns the phrase. '.repeat(64));
  for (let i = offset; ; i = (i + 7) % (text.length - L - 1))
    yield Int32Array.from(text.subarray(i, i + L + 1));
}

function memoryStore(): VolunteerStore & { saved: SavedVolunteer | null } {
  const store = {
    saved: null as SavedVolunteer | null,
    load: async () => store.saved,
    save: async (s: SavedVolunteer) => {
      store.saved = s;
      return 'memory';
    },
  };
  return store;
}

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

describe('runVolunteer', () => {
  const peers: SwarmPeer[] = [];
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));

  it(
    'two volunteers train together to one shared model, and state resumes',
    { timeout: 90_000 },
    async () => {
      const base = baseCheckpoint();
      const manifest = manifestFor(base);
      const a = await createNodePeer({ ...FAST, listen: ['/memory/client-a'] });
      const b = await createNodePeer({ ...FAST, listen: ['/memory/client-b'] });
      peers.push(a, b);
      await b.dial(a.getMultiaddrs()[0]!);
      const heldOut = [
        Int32Array.from(
          new TextEncoder().encode('the swarm learns the phrase. the swarm').subarray(0, L + 1),
        ),
      ];
      const events: VolunteerEvent[][] = [[], []];
      const stores = [memoryStore(), memoryStore()];
      const run = (peer: SwarmPeer, i: number) =>
        runVolunteer({
          manifest,
          peer,
          engine: createNaiveEngine(model),
          engineName: 'naive',
          base,
          sequences: phrases(i * 11),
          heldOut,
          store: stores[i]!,
          rounds: 3,
          joinTimeoutMs: 1_000,
          emit: (e) => events[i]!.push(e),
        });
      const [ra, rb] = await Promise.all([run(a, 0), run(b, 1)]);
      expect(ra.modelSha256).toBe(rb.modelSha256);
      const evals = events[0]!.filter((e) => e.event === 'eval');
      expect(evals.length).toBeGreaterThanOrEqual(2);
      expect(evals.at(-1)!.heldOutLoss).toBeLessThan(evals[0]!.heldOutLoss);
      const rounds = events[0]!.filter((e) => e.event === 'round');
      expect(rounds.some((e) => e.event === 'round' && e.contributors.length === 2)).toBe(true);

      // The saved state resumes the trainer where it stopped ...
      const saved = stores[0]!.saved!;
      expect(saved.state.jobId).toBe(manifest.jobId);
      const resumed: VolunteerEvent[] = [];
      await runVolunteer({
        manifest,
        peer: a,
        engine: createNaiveEngine(model),
        engineName: 'naive',
        base,
        sequences: phrases(0),
        store: stores[0]!,
        rounds: 1,
        joinTimeoutMs: 1_000,
        emit: (e) => resumed.push(e),
      }).catch(() => undefined); // b has stopped training: this round may not close; only 'ready' matters here
      const ready = resumed.find((e) => e.event === 'ready');
      expect(ready?.event === 'ready' && ready.resumedFromStep).toBe(ra.steps);

      // ... and is refused for another job.
      await expect(
        runVolunteer({
          manifest: manifestFor(base, 'another-job'),
          peer: a,
          engine: createNaiveEngine(model),
          engineName: 'naive',
          base,
          sequences: phrases(0),
          store: stores[0]!,
          emit: () => {},
        }),
      ).rejects.toThrow(IncompatibleStateError);
    },
  );
});
