import { PROTOCOL_VERSION, encodeFrame, tensorFromTyped, type DecodedFrame } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { NoSyncSourceError, WeightSyncError } from '../src/errors.js';
import {
  fetchFromFirst,
  fetchModelState,
  serveWeightSync,
  syncOnJoin,
  verifyModelState,
} from '../src/weight-sync.js';
import { encodeModelState } from '../src/wire.js';
import { FakeHub } from './fake-network.js';
import { identities } from './identities.js';
import { smallJob } from './parts.fixture.js';

function response(body: Uint8Array, patch: Record<string, unknown> = {}): DecodedFrame {
  return {
    message: {
      type: 'weight-sync-response',
      version: PROTOCOL_VERSION,
      jobId: 'synthetic',
      status: 'ok',
      round: 4,
      modelSha256: null,
      payloadBytes: body.length,
      ...patch,
    } as DecodedFrame['message'],
    tensors: { state: tensorFromTyped('u8', [body.length], body) },
  };
}

describe('verifyModelState (pure)', () => {
  it('accepts the model asked for and refuses every mismatch', () => {
    const { manifest, state } = smallJob();
    const s = state();
    const body = encodeModelState(s.layout, {
      weights: s.weights,
      momentum: s.momentum,
      round: 4,
      pastModels: [],
    });
    const sha = s.modelSha256;
    expect(verifyModelState(response(body, { modelSha256: sha }), sha, manifest)).toMatchObject({
      round: 4,
      modelSha256: sha,
    });
    expect(verifyModelState(response(body, { modelSha256: sha }), null, manifest).layout.size).toBe(
      s.layout.size,
    );
    const refusals: [DecodedFrame, string | null, RegExp][] = [
      [response(body, { modelSha256: sha, status: 'not-found' }), sha, /not-found/],
      [response(body, { modelSha256: 'a'.repeat(64) }), sha, /another model/],
      [response(body, { modelSha256: sha, payloadBytes: body.length - 1 }), sha, /length/],
      [response(body, { modelSha256: 'a'.repeat(64) }), null, /hash to/],
      [response(body, { modelSha256: sha, round: 5 }), sha, /round/],
      [response(body.subarray(0, 40), { modelSha256: sha }), sha, /does not decode/],
    ];
    for (const [r, asked, why] of refusals) expect(() => verifyModelState(r, asked, manifest)).toThrow(why);
    // A model of another size than the manifest's.
    const bigger = smallJob({ params: 2 * s.layout.size }).manifest;
    expect(() => verifyModelState(response(body, { modelSha256: sha }), sha, bigger)).toThrow(/parameters/);
  });
});

describe('weight sync over streams (no libp2p)', () => {
  it('fetches from the first peer that serves the model, past one that answers garbage', async () => {
    const [a, b, c] = await identities(3);
    const { manifest, state } = smallJob();
    const s = state();
    const hub = new FakeHub();
    const netA = hub.join(a!);
    const netB = hub.join(b!);
    const netC = hub.join(c!);
    netB.serve('weightSync', async (stream) => {
      await stream.read(AbortSignal.timeout(1000));
      await stream.write(
        encodeFrame({ type: 'delta-pull', version: PROTOCOL_VERSION, jobId: manifest.jobId, refs: [] }),
        AbortSignal.timeout(1000),
      );
      await stream.close(AbortSignal.timeout(1000));
    });
    netC.serve(
      'weightSync',
      serveWeightSync(netC, manifest, () => s),
    );
    await expect(fetchModelState(netA, b!.id, null, manifest)).rejects.toThrow(WeightSyncError);
    const { state: got, from } = await fetchFromFirst(netA, [b!.id, c!.id], s.modelSha256, manifest);
    expect(from).toBe(c!.id);
    expect(got.modelSha256).toBe(s.modelSha256);
    expect(Buffer.from(got.weights.buffer).equals(Buffer.from(s.weights.buffer))).toBe(true);
    // A peer that holds another model answers not-found.
    await expect(fetchModelState(netA, c!.id, 'b'.repeat(64), manifest)).rejects.toThrow(/not-found/);
    await expect(fetchFromFirst(netA, ['nobody'], null, manifest)).rejects.toThrow(NoSyncSourceError);
  });

  it('serves a model larger than a delta payload (weights and momentum: 8·P bytes > 4·P + 64 KiB)', async () => {
    const [a, b] = await identities(2);
    const { manifest, state } = smallJob({}, 40_000);
    const s = state();
    const hub = new FakeHub();
    const netA = hub.join(a!);
    const netB = hub.join(b!);
    netB.serve(
      'weightSync',
      serveWeightSync(netB, manifest, () => s),
    );
    const got = await fetchModelState(netA, b!.id, s.modelSha256, manifest);
    expect(got.layout.size).toBe(40_000);
  });

  it('a joiner with nobody announcing a model gets NoSyncSourceError; an announced one is synced', async () => {
    const views = new Map();
    await expect(syncOnJoin(views, { timeoutMs: 50, pollMs: 10, sync: async () => {} })).rejects.toThrow(
      NoSyncSourceError,
    );
    views.set('p', { round: 2, modelSha256: 'c'.repeat(64), pastModels: [], at: 0 });
    const asked: string[] = [];
    await syncOnJoin(views, { timeoutMs: 50, pollMs: 10, sync: async (_peers, sha) => void asked.push(sha) });
    expect(asked).toEqual(['c'.repeat(64)]);
    // Announced but unservable: the sync's own error, not "no source".
    const failing = async () => {
      throw new WeightSyncError('bad body');
    };
    await expect(syncOnJoin(views, { timeoutMs: 50, pollMs: 10, sync: failing })).rejects.toThrow('bad body');
  });
});
