/**
 * A weight sync the serving peer drops (real peers, memory transport): it resets the stream after the
 * request, or answers "ok, 3 records" and then hangs up the whole connection. Either way the asker gets a
 * WeightSyncError (a sync worth trying again or elsewhere, the transport failure as its cause), never a
 * raw stream error and never a ReplayError, and it goes on serving its own swarm.
 */
import { lpStream } from '@libp2p/utils';
import { PROTOCOL_IDS, PROTOCOL_LIMITS, PROTOCOL_VERSION, encodeFrame } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { WeightSyncError } from '../src/errors.js';
import { ModelLayout } from '../src/model-layout.js';
import { fetchHistory } from '../src/weight-sync.js';
import { modelSha256 } from '../src/wire.js';
import { bareGossipNode, memoryPeers, waitFor } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function dropped(name: string, how: 'reset-stream' | 'close-connection') {
  const problem = syntheticProblem(256, 2);
  const layout = new ModelLayout(problem.shapes);
  const w0 = layout.flatten(zeroWeights(problem));
  const sha0 = modelSha256(layout, w0);
  const manifest = syntheticManifest({ baseSha256: sha0, params: layout.size });
  const [asker] = await memoryPeers(name, 1);
  const server = await bareGossipNode(`${name}-server`);
  cleanup.push(async () => {
    await server.stop();
    await asker!.stop();
  });
  let asked = 0;
  await server.handle(PROTOCOL_IDS.weightSync, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: PROTOCOL_LIMITS.maxStreamFrameBytes });
    await lp.read();
    asked++;
    if (how === 'reset-stream') return stream.abort(new Error('reset by the serving peer'));
    await lp.write(
      encodeFrame({
        type: 'weight-sync-response',
        version: PROTOCOL_VERSION,
        jobId: manifest.jobId,
        status: 'ok',
        round: 3,
        modelSha256: 'a'.repeat(64),
        records: 3,
      }),
    );
    await connection.close();
  });
  await asker!.dial(server.getMultiaddrs()[0]!);
  const net = asker!.services.swarm;
  await waitFor('the server is connected', () => net.connectedPeers().includes(server.peerId.toString()));
  const ask = { asked: null, root: { round: 0, weights: w0, modelSha256: sha0 } };
  const err = await fetchHistory(net, server.peerId.toString(), ask, manifest, layout).catch((e) => e);
  return { err, asked, net, server };
}

describe('a weight sync the serving peer drops', () => {
  it.each(['reset-stream', 'close-connection'] as const)(
    '%s: a WeightSyncError with its cause',
    async (how) => {
      const { err, asked, net, server } = await dropped(`dropped-${how}`, how);
      expect(asked).toBe(1);
      expect(err).toBeInstanceOf(WeightSyncError);
      // The reset reaches the asker as a stream error; the hang-up as the end of the stream mid-history.
      if (how === 'reset-stream') {
        expect((err as Error).message).toMatch(/the sync stream failed/);
        expect((err as Error).cause).toHaveProperty('name', 'StreamResetError');
      } else {
        expect((err as Error).message).toMatch(/failed|ended before a round-record/);
        expect(net.connectedPeers()).not.toContain(server.peerId.toString());
      }
    },
  );
});
