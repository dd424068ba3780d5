/**
 * One volunteer session end to end with real parts — an HTTP listing and base checkpoint on loopback,
 * a libp2p peer on the memory transport, the naive engine — and its teardown: whatever fails, what was
 * started is stopped, newest first.
 */
import { createNaiveEngine, type GradientEngine } from '@slimswarm/performer';
import { createNodePeer, dialableBy, type SwarmPeer } from '@slimswarm/swarm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startVolunteerSession,
  type VolunteerEvent,
  type VolunteerSessionOptions,
  type VolunteerStore,
} from '../src/index.js';
import { L, serveJob } from './fixtures.js';

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function coordinator(): Promise<{ url: string; reads: () => number }> {
  const job = await serveJob();
  cleanup.push(job.close);
  return job;
}

async function* phrases(): AsyncGenerator<Int32Array> {
  const text = new TextEncoder().encode('one session, started and stopped once. '.repeat(16));
  for (let i = 0; ; i = (i + 3) % (text.length - L - 1)) yield Int32Array.from(text.subarray(i, i + L + 1));
}

let n = 0;
/** Session options whose peer and engine write down when they are stopped. */
function options(
  url: string,
  stopped: string[],
  events: VolunteerEvent[],
): VolunteerSessionOptions & {
  peer: () => SwarmPeer | null;
} {
  let created: SwarmPeer | null = null;
  return {
    coordinator: url,
    canDial: dialableBy('node'),
    createPeer: async (_listing, bootstrap) => {
      const peer = await createNodePeer({ ...FAST, listen: [`/memory/session-${n++}`], bootstrap });
      const stop = peer.stop.bind(peer);
      peer.stop = async () => {
        stopped.push('peer');
        await stop();
      };
      cleanup.push(() => stop());
      created = peer;
      return peer;
    },
    createEngine: async (manifest) => {
      const engine: GradientEngine = createNaiveEngine(manifest.model);
      const dispose = engine.dispose.bind(engine);
      engine.dispose = async () => {
        stopped.push('engine');
        await dispose();
      };
      return { engine, name: 'naive' };
    },
    sequences: () => phrases(),
    meetIntervalMs: 100,
    joinTimeoutMs: 300,
    rounds: 1,
    emit: (e) => events.push(e),
    peer: () => created,
  };
}

/** keepMeeting has stopped when the listing is no longer read. */
async function expectNoMoreReads(reads: () => number): Promise<void> {
  const before = reads();
  await new Promise((r) => setTimeout(r, 300));
  expect(reads()).toBe(before);
}

describe('startVolunteerSession', () => {
  it('runs the whole session, then stops the engine, the meeting and the peer', async () => {
    const job = await coordinator();
    const stopped: string[] = [];
    const events: VolunteerEvent[] = [];
    const held: (string | null)[] = [];
    const opts = options(job.url, stopped, events);
    const summary = await startVolunteerSession({
      ...opts,
      onSharedModel: (current) => held.push(current && current().sha256),
    });
    expect(summary?.rounds).toBe(1);
    // The shared model could be read while the loop ran, and not after.
    const synced = events.find((e) => e.event === 'synced');
    expect(held).toEqual([synced?.event === 'synced' ? synced.modelSha256 : 'none', null]);
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(['ready', 'synced', 'round', 'stopped']),
    );
    expect(events.find((e) => e.event === 'ready')).toMatchObject({ engine: 'naive' });
    expect(stopped).toEqual(['engine', 'peer']);
    expect(opts.peer()?.status).toBe('stopped');
    await expectNoMoreReads(job.reads);
  });

  it('stops the peer and the meeting when the engine cannot start', async () => {
    const job = await coordinator();
    const stopped: string[] = [];
    const opts = options(job.url, stopped, []);
    const err = await startVolunteerSession({
      ...opts,
      createEngine: () => Promise.reject(new Error('no engine today')),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('no engine today');
    expect(stopped).toEqual(['peer']);
    await expectNoMoreReads(job.reads);
  });

  it('stops everything when the loop fails, even past a failing step, and the loop error wins', async () => {
    const job = await coordinator();
    const stopped: string[] = [];
    const opts = options(job.url, stopped, []);
    const broken: VolunteerStore = {
      load: () => Promise.reject(new Error('the disk is gone')),
      save: () => Promise.reject(new Error('unreachable')),
    };
    const err = await startVolunteerSession({
      ...opts,
      store: () => broken,
      createEngine: async (manifest, lora) => {
        const { engine, name } = await opts.createEngine(manifest, lora);
        const dispose = engine.dispose.bind(engine);
        engine.dispose = async () => {
          await dispose();
          throw new Error('the engine would not go');
        };
        return { engine, name };
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('the disk is gone');
    expect(stopped).toEqual(['engine', 'peer']);
  });

  it('starts nothing when aborted before it began', async () => {
    const job = await coordinator();
    const stopped: string[] = [];
    const opts = options(job.url, stopped, []);
    const summary = await startVolunteerSession({ ...opts, signal: AbortSignal.abort() });
    expect(summary).toBeNull();
    expect(opts.peer()).toBeNull();
    expect(stopped).toEqual([]);
  });
});
