/**
 * Fetching the shared model to use it: with real parts (an HTTP listing on loopback, libp2p peers on the
 * memory transport, a real replica) it is the base while nobody announces a model, the replayed model of
 * a trainer that is rounds ahead once one does, and the fetcher's peer is stopped either way. A
 * coordinator that never answers ends in ModelFetchTimeoutError, the caller's abort in its reason.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { paramShapes } from '@slimswarm/performer';
import { sha256Hex } from '@slimswarm/protocol';
import { createNodePeer, createSwarmReplica, dialableBy, type SwarmPeer } from '@slimswarm/swarm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidModelFetchOptionsError,
  ModelFetchTimeoutError,
  fetchSharedModel,
  weightsFromSafetensors,
  type ModelFetchOptions,
} from '../src/index.js';
import { manifestFor, model, serveJob } from './fixtures.js';

const FAST = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

let n = 0;
/** Fetch options whose (non-training) peer is kept for the test to inspect. */
function options(url: string, peers: SwarmPeer[]): ModelFetchOptions {
  return {
    coordinator: url,
    canDial: dialableBy('node'),
    createPeer: async (_listing, bootstrap) => {
      const peer = await createNodePeer({
        ...FAST,
        role: 'dashboard',
        listen: [`/memory/fetch-${n++}`],
        bootstrap,
      });
      cleanup.push(() => peer.stop());
      peers.push(peer);
      return peer;
    },
    joinTimeoutMs: 500,
  };
}

/** A trainer alone in the job that has closed `rounds` rounds (each one delta: its own). */
async function trainerAhead(base: Uint8Array, rounds: number) {
  const peer = await createNodePeer({ ...FAST, listen: [`/memory/trainer-${n++}`] });
  cleanup.push(() => peer.stop());
  const replica = await createSwarmReplica({
    peer,
    manifest: manifestFor(base),
    shapes: paramShapes(model),
    initialWeights: weightsFromSafetensors(base),
  });
  cleanup.push(() => replica.stop());
  for (let r = 0; r < rounds; r++) {
    const shared = replica.current();
    const local = Object.fromEntries(
      Object.entries(shared.weights).map(([name, w]) => [name, w.map((x, i) => x + 0.01 * Math.sin(i + r))]),
    );
    await replica.contribute(shared, local, { tokens: 24, steps: 1, meanLoss: 5 });
    await replica.nextRound();
  }
  return { address: peer.getMultiaddrs()[0]!.toString(), current: replica.current() };
}

describe('fetchSharedModel', () => {
  it('takes the base when nobody announces a model, says so, and stops its peer', async () => {
    const job = await serveJob();
    cleanup.push(job.close);
    const peers: SwarmPeer[] = [];
    const got = await fetchSharedModel(options(job.url, peers));
    expect(got).toMatchObject({ round: 0, source: 'base checkpoint', modelSha256: sha256Hex(job.base) });
    expect(got.manifest.model).toEqual(model);
    expect(got.params).toEqual(weightsFromSafetensors(job.base));
    expect(peers.map((p) => p.status)).toEqual(['stopped']);
  });

  it("replays a trainer's history to the model it holds", async () => {
    const base = (await serveJob()).base; // the fixtures' base is deterministic: the trainer starts from it
    const trainer = await trainerAhead(base, 2);
    const job = await serveJob([trainer.address]);
    cleanup.push(job.close);
    const peers: SwarmPeer[] = [];
    const got = await fetchSharedModel({ ...options(job.url, peers), joinTimeoutMs: 5_000 });
    expect(got).toMatchObject({ round: 2, source: 'peers', modelSha256: trainer.current.sha256 });
    expect(got.params).toEqual(trainer.current.weights);
    expect(peers.map((p) => p.status)).toEqual(['stopped']);
  });

  it('gives up after its time limit with ModelFetchTimeoutError, or with the reason of an abort', async () => {
    // A coordinator that accepts the request and never answers.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => {
      silent.closeAllConnections();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const timedOut = fetchSharedModel({ ...options(url, []), timeoutMs: 300 });
    await expect(timedOut).rejects.toThrow(ModelFetchTimeoutError);
    const stop = new AbortController();
    const aborted = fetchSharedModel({ ...options(url, []), signal: stop.signal });
    stop.abort(new Error('user stopped'));
    await expect(aborted).rejects.toThrow('user stopped');
  });

  it('refuses a coordinator that is not an http(s) URL before going on the network', async () => {
    await expect(fetchSharedModel(options('ftp://example.org', []))).rejects.toThrow(
      InvalidModelFetchOptionsError,
    );
  });
});
