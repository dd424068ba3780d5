/**
 * A dense delta disguised as top-k, sent by a real peer over the memory transport: every field of its
 * header is right and it is signed by its author, its payload is a valid topk-int8 payload — of all P
 * coordinates instead of ⌈topkFraction·P⌉. The codec's shape check is all that stands between it and
 * the merge.
 */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { topics } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { decodeDelta, encodeDelta, topkCount } from '../src/codec.js';
import { ModelLayout } from '../src/model-layout.js';
import { createNodePeer } from '../src/peer.js';
import { encodeDeltaPayload, modelSha256 } from '../src/wire.js';
import {
  FAST,
  authorOf,
  joinReplicas,
  memoryPeers,
  signedDeltaFrame,
  trainLoop,
  waitFor,
} from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('a dense delta disguised as top-k', () => {
  it('is rejected as malformed by every honest peer, and the replicas stay identical without it', async () => {
    const params = 2048;
    const problem = syntheticProblem(params, 9);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const sha0 = modelSha256(layout, layout.flatten(w0));
    const manifest = syntheticManifest({
      baseSha256: sha0,
      params,
      codec: 'topk-int8',
      topkFraction: 0.05,
      round: { quorumFraction: 1, deadlineMs: 4_000, minDeltas: 1, peerTimeoutMs: 1_500 },
    });
    const peers = await memoryPeers('disguise', 3);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);

    const attackerKey = await generateKeyPair('Ed25519');
    const attacker = await createNodePeer({
      ...FAST,
      listen: ['/memory/disguise-evil'],
      identity: { kind: 'bytes', privateKey: privateKeyToProtobuf(attackerKey) },
    });
    cleanup.push(async () => {
      await attacker.stop();
    });
    const attackerId = attacker.peerId.toString();
    for (const p of peers) await attacker.dial(p.getMultiaddrs()[0]!);
    const topic = topics.deltas(manifest.jobId);
    await waitFor(
      'the attacker sees the topic',
      () => attacker.services.pubsub.getSubscribers(topic).length === 3,
    );

    // Every coordinate moved by 0.5: a valid topk-int8 payload with k = P, well inside the norm bound.
    const dense = encodeDelta(new Float32Array(params).fill(0.5), { codec: 'topk-int8', topkFraction: 1 });
    expect(dense.values!.shape).toEqual([params]);
    expect(topkCount(params, manifest.compression.topkFraction)).toBe(103);
    // Under a job whose fraction were 1 it would decode to a full-size move of the model.
    expect(decodeDelta('topk-int8', dense, { params, topkFraction: 1 }).every((x) => x === 0.5)).toBe(true);

    const refusedBy = new Set<number>();
    peers.forEach((p, i) =>
      p.services.swarm.events.on('delta:rejected', (e) => {
        if (e.peer === attackerId && e.action === 'reject' && e.reason === 'malformed') refusedBy.add(i);
      }),
    );
    const closed: { round: number; peers: string[] }[] = [];
    for (const r of replicas)
      r.events.on('round:closed', (e) => closed.push({ round: e.round, peers: e.peers }));

    const frame = signedDeltaFrame({
      jobId: manifest.jobId,
      base: sha0,
      codec: 'topk-int8',
      payload: encodeDeltaPayload(dense),
      author: authorOf(attackerKey, manifest),
    });
    await attacker.services.pubsub.publish(topic, frame);
    await waitFor('every honest peer rejected it as malformed', () => refusedBy.size === 3);
    for (const p of peers) expect(p.services.swarm.stats().rejected.malformed).toBe(1);

    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
    await waitFor('quiescence', () =>
      replicas.every((r) => r.current().round === 2 && r.current().sha256 === replicas[0]!.current().sha256),
    );
    const models = replicas.map((r) => r.current());
    for (const m of models) {
      for (const name of Object.keys(m.weights))
        expect(
          Buffer.from(m.weights[name]!.buffer).equals(Buffer.from(models[0]!.weights[name]!.buffer)),
        ).toBe(true);
    }
    // Unmoved by it: no round any replica closed merged the attacker's delta.
    expect(closed.filter((c) => c.round === 0)).toHaveLength(3);
    for (const c of closed) expect(c.peers).not.toContain(attackerId);
    // The Reject is scored: the attacker's gossip score fell below zero at every honest peer.
    for (const p of peers)
      expect(
        (p.services.pubsub as unknown as { getScore(id: string): number }).getScore(attackerId),
      ).toBeLessThan(0);
  });
});
