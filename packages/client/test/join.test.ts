/**
 * Joining: only "no peer announced a model" (NoSyncSourceError) falls back to the base checkpoint; any
 * other failure to sync reaches the caller, and the user's abort while joining stops cleanly. The swarm's
 * sync is replaced by a stand-in that fails on cue; starting from the base is the real one.
 */
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createNaiveEngine } from '@slimswarm/performer';
import {
  createNodePeer,
  NoSyncSourceError,
  WeightSyncError,
  type CreateReplicaOptions,
  type SwarmPeer,
} from '@slimswarm/swarm';
import type * as Swarm from '@slimswarm/swarm';
import { DEFAULT_JOIN_TIMEOUT_MS, runVolunteer, type VolunteerEvent } from '../src/index.js';
import { L, baseCheckpoint, manifestFor, model } from './fixtures.js';

/** How the stand-in sync fails, and what it was asked. */
const sync = vi.hoisted(() => ({
  fail: (_opts: unknown): Promise<never> => Promise.reject(new Error('set by each test')),
  calls: [] as unknown[],
}));

vi.mock('@slimswarm/swarm', async (importOriginal) => {
  const real = await importOriginal<typeof Swarm>();
  return {
    ...real,
    createSwarmReplica: async (opts: CreateReplicaOptions) => {
      if (!opts.syncFromPeers) return real.createSwarmReplica(opts);
      sync.calls.push(opts);
      return sync.fail(opts);
    },
  };
});

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

async function* phrases(): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('join the swarm or start from the base. '.repeat(16));
  for (let i = 0; ; i = (i + 3) % (text.length - L - 1)) yield Int32Array.from(text.subarray(i, i + L + 1));
}

describe('joining the shared model', () => {
  const peers: SwarmPeer[] = [];
  let peer: SwarmPeer;
  let n = 0;
  afterAll(async () => Promise.all(peers.map((p) => p.stop())));
  beforeEach(async () => {
    sync.calls = [];
    peer = await createNodePeer({ ...FAST, listen: [`/memory/join-${n++}`] });
    peers.push(peer);
  });

  const run = (events: VolunteerEvent[], extra: { signal?: AbortSignal; joinTimeoutMs?: number } = {}) => {
    const base = baseCheckpoint();
    return runVolunteer({
      manifest: manifestFor(base),
      peer,
      engine: createNaiveEngine(model),
      engineName: 'naive',
      base,
      sequences: phrases(),
      rounds: 1,
      emit: (e) => events.push(e),
      ...extra,
    });
  };

  it('starts from the base when no peer announced a model, waiting the default 8 s for one', async () => {
    sync.fail = () => Promise.reject(new NoSyncSourceError('no peer announced a model before the timeout'));
    const events: VolunteerEvent[] = [];
    const summary = await run(events);
    expect(summary.rounds).toBe(1);
    expect(events.find((e) => e.event === 'synced')).toMatchObject({ source: 'base checkpoint', round: 0 });
    expect(sync.calls).toHaveLength(1);
    // The wait is the swarm's joinTimeoutMs, not an abort signal of our own.
    expect(sync.calls[0]).toMatchObject({ joinTimeoutMs: DEFAULT_JOIN_TIMEOUT_MS, signal: undefined });
    expect(DEFAULT_JOIN_TIMEOUT_MS).toBe(8_000);
  });

  it('also knows NoSyncSourceError by its name (another realm or copy of the swarm package)', async () => {
    sync.fail = () =>
      Promise.reject(Object.assign(new Error('nobody announced'), { name: 'NoSyncSourceError' }));
    const events: VolunteerEvent[] = [];
    await run(events, { joinTimeoutMs: 500 });
    expect(events.find((e) => e.event === 'synced')).toMatchObject({ source: 'base checkpoint' });
    expect(sync.calls[0]).toMatchObject({ joinTimeoutMs: 500 });
  });

  it('passes any other failure to the caller instead of training from the base', async () => {
    sync.fail = () => Promise.reject(new WeightSyncError('peer answered unavailable'));
    const events: VolunteerEvent[] = [];
    await expect(run(events)).rejects.toThrow(WeightSyncError);
    expect(events.map((e) => e.event)).toEqual([]);
  });

  it('stops cleanly when the user aborts while it waits for peers', async () => {
    sync.fail = (opts) =>
      new Promise<never>((_, reject) => {
        const { signal } = opts as CreateReplicaOptions;
        signal!.addEventListener('abort', () => reject(signal!.reason), { once: true });
      });
    const events: VolunteerEvent[] = [];
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted')), 100);
    const summary = await run(events, { signal: controller.signal });
    expect(summary).toMatchObject({ rounds: 0, steps: 0, heldOutLoss: null });
    expect(events).toEqual([{ event: 'stopped', reason: 'aborted', round: 0, step: 0 }]);
  });
});
