/**
 * Equivocation between real peers (libp2p over the in-memory transport): an attacker signs two different
 * deltas for one round and gives each to another honest peer, so that the honest peers start from split
 * views. Every honest peer must end with the attacker banned, the honest replicas bitwise identical (after
 * a resync where one of them merged a delta the others dropped), and training must go on.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { topics } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { encodeDelta } from '../src/codec.js';
import { ModelLayout } from '../src/model-layout.js';
import { encodeDeltaPayload, modelSha256 } from '../src/wire.js';
import {
  bareGossipNode,
  expectIdentical,
  flat,
  joinReplicas,
  memoryPeers,
  signedDeltaFrame,
  trainLoop,
  waitFor,
  authorOf,
  type Author,
} from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A signed dense-f32 delta frame of `values` for `round`, computed from the model `base` of that round. */
function deltaFrame(jobId: string, round: number, base: string, values: Float32Array, author: Author) {
  const payload = encodeDeltaPayload(encodeDelta(values, { codec: 'dense-f32', topkFraction: 1 }));
  return signedDeltaFrame({ jobId, base, codec: 'dense-f32', payload, author, round });
}

describe('equivocation between real peers', () => {
  it('two deltas for one round to different honest peers: banned everywhere, replicas identical, training goes on', async () => {
    const ROUNDS = 5;
    const ATTACK_ROUND = 1;
    const params = 1024;
    const problem = syntheticProblem(params, 9);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const manifest = syntheticManifest({
      baseSha256: modelSha256(layout, layout.flatten(w0)),
      params,
      codec: 'dense-f32',
      aggregation: { rule: 'trimmed-mean', normBound: 100, trimFraction: 0.2 },
      round: { quorumFraction: 1, deadlineMs: 4_000, minDeltas: 1, peerTimeoutMs: 1_500 },
    });
    const peers = await memoryPeers('equivocation', 3);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);
    const [a, b] = peers;

    // One author, two faces: the first is connected to a only, the second to b only.
    const key = await generateKeyPair('Ed25519');
    const sign = authorOf(key, manifest);
    const faces = [
      await bareGossipNode('equivocation-eve-1', key),
      await bareGossipNode('equivocation-eve-2', key),
    ];
    cleanup.push(async () => {
      for (const f of faces) await f.stop();
    });
    const eve = faces[0]!.peerId.toString();
    expect(faces[1]!.peerId.toString()).toBe(eve);
    await faces[0]!.dial(a!.getMultiaddrs()[0]!);
    await faces[1]!.dial(b!.getMultiaddrs()[0]!);
    const topic = topics.deltas(manifest.jobId);
    await waitFor('both faces see the delta topic', () =>
      faces.every((f) => f.services.pubsub.getSubscribers(topic).length === 1),
    );

    const banned = peers.map(() => [] as { round: number; via: string }[]);
    peers.forEach((p, i) =>
      p.services.swarm.events.on('peer:banned', (e) => {
        if (e.peer === eve) banned[i]!.push({ round: e.round, via: e.via });
      }),
    );
    // Who merged one of eve's deltas before the ban reached it (it then resyncs to the others' model).
    const mergedEve = new Set<number>();
    replicas.forEach((r, i) => r.events.on('round:closed', (e) => e.peers.includes(eve) && mergedEve.add(i)));
    // As round ATTACK_ROUND opens on a, each face publishes its own delta for it: a gets one, b the
    // other, and each forwards what it took first to the rest, while everybody trains.
    let attacked: Promise<unknown> | null = null;
    replicas[0]!.events.on('round:opened', ({ round, modelSha256: base }) => {
      if (round !== ATTACK_ROUND || attacked) return;
      const frames = [0.001, 0.002].map((v) =>
        deltaFrame(manifest.jobId, round, base, new Float32Array(params).fill(v), sign),
      );
      attacked = Promise.all(faces.map((f, i) => f.services.pubsub.publish(topic, frames[i]!)));
    });

    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, ROUNDS, manifest)));
    await attacked;
    await waitFor('every honest peer banned eve', () => banned.every((b) => b.length === 1));
    for (const b of banned) expect(b[0]!.round).toBe(ATTACK_ROUND);
    // At least one peer saw both deltas itself; the others may have checked its evidence instead.
    expect(banned.flat().some((b) => b.via === 'delta')).toBe(true);
    await waitFor('quiescence: every replica at the last round with one model', () =>
      replicas.every(
        (r) => r.current().round >= ROUNDS && r.current().sha256 === replicas[0]!.current().sha256,
      ),
    );
    expectIdentical(replicas);
    const resyncs = peers.map((p) => p.services.swarm.stats().resyncs);
    console.log(
      JSON.stringify({ equivocation: banned.map((b) => b[0]!.via), mergedEve: [...mergedEve], resyncs }),
    );

    // Banned for the rest of the job: a fresh delta from either face is refused without a look.
    const { round, sha256 } = replicas[0]!.current();
    const later = deltaFrame(manifest.jobId, round, sha256, new Float32Array(params).fill(0.001), sign);
    const before = [a!, b!].map((p) => p.services.swarm.stats().rejected.banned);
    await Promise.all(faces.map((f) => f.services.pubsub.publish(topic, later)));
    await waitFor('a and b refused it as banned', () =>
      [a!, b!].every((p, i) => p.services.swarm.stats().rejected.banned > before[i]!),
    );
    // Nobody counts eve as a contributor to wait for.
    for (const r of replicas) expect(r.activeContributors()).toBeLessThanOrEqual(3);

    // Honest training goes on, from the one shared model, and still improves it.
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, ROUNDS + 2, manifest)));
    await waitFor('quiescence after two more rounds', () =>
      replicas.every(
        (r) => r.current().round >= ROUNDS + 2 && r.current().sha256 === replicas[0]!.current().sha256,
      ),
    );
    expectIdentical(replicas);
    expect(problem.loss(flat(replicas[0]!.current().weights, problem))).toBeLessThan(
      problem.loss(new Float32Array(params)),
    );
  });
});
