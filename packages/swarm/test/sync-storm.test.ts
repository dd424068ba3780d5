/**
 * A weight-sync storm from a real peer (memory transport): one attacker opens many weight-sync streams at
 * once and asks for the whole history again and again. The gate serves it one history, answers the rest
 * busy, and the honest peers keep training and agreeing.
 */
import { lpStream } from '@libp2p/utils';
import {
  PROTOCOL_IDS,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type WeightSyncResponse,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import { modelSha256 } from '../src/wire.js';
import { bareGossipNode, expectIdentical, joinReplicas, memoryPeers, trainLoop, waitFor } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('weight-sync storm', () => {
  it('50 concurrent syncs from one peer: one history served, the rest busy; the swarm trains on', async () => {
    const problem = syntheticProblem(1024, 4);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const sha0 = modelSha256(layout, layout.flatten(w0));
    const manifest = syntheticManifest({
      baseSha256: sha0,
      params: layout.size,
      round: { quorumFraction: 1, deadlineMs: 5_000, minDeltas: 1, peerTimeoutMs: 2_000 },
    });
    const peers = await memoryPeers('storm', 2);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 3, manifest)));
    const attacker = await bareGossipNode('storm-attacker');
    cleanup.push(async () => {
      await attacker.stop();
    });
    const target = peers[0]!.getMultiaddrs()[0]!;
    const request = encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      modelSha256: null,
      from: { round: 0, modelSha256: sha0 },
    });
    // A stream libp2p itself refuses (beyond the per-connection stream limit) counts as refused.
    const ask = (): Promise<{ status: string; bytes: number }> =>
      askOnce().catch(() => ({ status: 'refused', bytes: 0 }));
    const askOnce = async (): Promise<{ status: string; bytes: number }> => {
      const stream = await attacker.dialProtocol(target, PROTOCOL_IDS.weightSync);
      const lp = lpStream(stream, { maxDataLength: PROTOCOL_LIMITS.maxStreamFrameBytes });
      await lp.write(request);
      const head = decodeFrame((await lp.read()).subarray(), { maxBytes: 1 << 20 });
      const m = head.message as WeightSyncResponse;
      let bytes = 0;
      if (m.status === 'ok')
        for (;;) {
          try {
            bytes += (await lp.read()).byteLength;
          } catch {
            break;
          }
        }
      await stream.close().catch(() => {});
      return { status: m.status, bytes };
    };
    const answers = await Promise.all(Array.from({ length: 50 }, ask));
    const ok = answers.filter((a) => a.status === 'ok');
    expect(ok.length).toBe(1);
    expect(answers.filter((a) => a.status === 'busy').length).toBeGreaterThan(0);
    // The one history served is the log: 3 rounds of 2 top-k deltas, a few KB, not 50 copies of a model.
    expect(ok[0]!.bytes).toBeLessThan(64 * 1024);
    // Asked again at once, it is still busy (one history per peer per pause).
    expect((await ask()).status).not.toBe('ok');
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 5, manifest)));
    await waitFor('round 5 everywhere', () => replicas.every((r) => r.current().round === 5));
    expectIdentical(replicas);
  });
});
