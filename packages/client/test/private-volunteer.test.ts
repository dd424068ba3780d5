/**
 * A volunteer in a private job (one libp2p peer on the memory transport, the naive engine on the tiny
 * test model): its round events report ε and the release count, which its saved state keeps, so a
 * second run goes on from there instead of reporting a fresh ε.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createNaiveEngine } from '@slimswarm/performer';
import {
  JobManifest,
  privateDeltaNormBound,
  trainableParamCount,
  type PrivacyConfig,
} from '@slimswarm/protocol';
import { createNodePeer, PrivacyBudget, type SwarmPeer } from '@slimswarm/swarm';
import { runVolunteer, type SavedVolunteer, type VolunteerEvent } from '../src/index.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

const PRIVACY: PrivacyConfig = { mechanism: 'gaussian', clipNorm: 1, noiseMultiplier: 1, delta: 1e-6 };

async function* phrases(): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('a private phrase. '.repeat(64));
  for (let i = 0; ; i = (i + 7) % (text.length - L - 1)) yield Int32Array.from(text.subarray(i, i + L + 1));
}

function privateManifest(base: Uint8Array): JobManifest {
  const plain = manifestFor(base, 'private-test');
  const normBound = privateDeltaNormBound(PRIVACY, trainableParamCount(plain));
  return JobManifest.parse({
    ...plain,
    privacy: PRIVACY,
    compression: { ...plain.compression, errorFeedback: false },
    aggregation: { rule: 'mean', normBound },
  });
}

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

describe('a volunteer in a private job', () => {
  const peers: SwarmPeer[] = [];
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));

  it('reports ε per round and keeps its release count across runs', { timeout: 60_000 }, async () => {
    const base = baseCheckpoint();
    const manifest = privateManifest(base);
    const peer = await createNodePeer({ ...FAST, listen: ['/memory/private-a'] });
    peers.push(peer);
    let saved: SavedVolunteer | null = null;
    const store = {
      load: async () => saved,
      save: async (s: SavedVolunteer) => {
        saved = s;
        return 'memory';
      },
    };
    const run = async (rounds: number) => {
      const events: VolunteerEvent[] = [];
      await runVolunteer({
        manifest,
        peer,
        engine: createNaiveEngine(model),
        engineName: 'naive',
        base,
        sequences: phrases(),
        store,
        rounds,
        joinTimeoutMs: 300,
        emit: (e) => events.push(e),
      });
      const ready = events.find((e) => e.event === 'ready');
      return { ready, rounds: events.flatMap((e) => (e.event === 'round' ? [e] : [])) };
    };
    const expected = (releases: number) => new PrivacyBudget(PRIVACY, releases).spent().epsilon;

    const { ready: fresh, rounds: first } = await run(2);
    expect(fresh).toMatchObject({ event: 'ready', epsilon: 0 });
    expect(first.map((e) => e.privacyReleases)).toEqual([1, 2]);
    expect(first.map((e) => e.epsilon)).toEqual([expected(1), expected(2)]);
    expect(saved!.state.privacyReleases).toBe(2);

    const { ready: resumed, rounds: second } = await run(1);
    expect(resumed).toMatchObject({ event: 'ready', epsilon: expected(2) });
    expect(second.map((e) => e.privacyReleases)).toEqual([3]);
    expect(second[0]!.epsilon).toBe(expected(3));
    expect(second[0]!.epsilon).toBeGreaterThan(first[1]!.epsilon!);
    expect(saved!.state.privacyReleases).toBe(3);
  });
});
