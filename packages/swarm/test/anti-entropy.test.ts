import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { FAST, contribute, waitFor } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(deadlineMs: number) {
  const problem = syntheticProblem(2048, 21);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: 2048,
    round: { quorumFraction: 1, deadlineMs, minDeltas: 1, peerTimeoutMs: 1_500 },
  });
  return { problem, w0, manifest };
}

async function peerWithReplica(name: string, manifest: unknown, w0: Record<string, Float32Array>) {
  // Small gossip parts, so that every delta here travels in several signed messages.
  const peer = await createNodePeer({
    ...FAST,
    swarm: { ...FAST.swarm, maxPartBytes: 256 },
    listen: [`/memory/${name}`],
  });
  const replica = await createSwarmReplica({ peer, manifest, initialWeights: w0 });
  cleanup.push(async () => {
    await replica.stop();
    await peer.stop();
  });
  return { peer, replica };
}

async function connect(a: SwarmPeer, b: SwarmPeer) {
  await a.dial(b.getMultiaddrs()[0]!);
}

describe('round boundary', () => {
  it('nextRound() after contribute() resolves even if the round closed while contribute() was publishing', async () => {
    const { problem, w0, manifest } = setup(10_000);
    const solo = await peerWithReplica('solo', manifest, w0);
    await contribute(solo.replica, problem, 0); // a lone trainer is its own quorum: the round closes at once
    await waitFor('the round closed', () => solo.replica.current().round === 1);
    const next = await solo.replica.nextRound(AbortSignal.timeout(2_000));
    expect(next.round).toBe(1);
  });
});

describe('anti-entropy', () => {
  it('a peer that missed a delta on gossip pulls it after a summary names it', async () => {
    const { problem, w0, manifest } = setup(10_000);
    const a = await peerWithReplica('ae-a', manifest, w0);
    const b = await peerWithReplica('ae-b', manifest, w0);
    await connect(a.peer, b.peer);
    await waitFor('a and b see each other', () => a.replica.activeContributors() === 2);
    const sent = await contribute(a.replica, problem, 0);
    expect(sent.parts).toBeGreaterThan(1);
    // c subscribes only now, after a's delta went out on gossip.
    const c = await peerWithReplica('ae-c', manifest, w0);
    const pulled: string[] = [];
    c.replica.events.on('delta:accepted', (e) => e.via === 'pull' && pulled.push(e.payloadSha256));
    await connect(c.peer, a.peer);
    await connect(c.peer, b.peer);
    await waitFor('c pulled the delta it missed', () => pulled.includes(sent.payloadSha256));
    await waitFor('everyone counts 3 trainers', () =>
      [a, b, c].every((x) => x.replica.activeContributors() === 3),
    );
    await contribute(b.replica, problem, 1);
    await contribute(c.replica, problem, 2);
    const all = [a, b, c].map((x) => x.replica);
    await waitFor('round 0 merged everywhere', () => all.every((r) => r.current().round === 1));
    expect(new Set(all.map((r) => r.current().sha256)).size).toBe(1);
  });

  it('a peer whose model disagrees with the majority resynchronises (weights and momentum)', async () => {
    const { problem, w0, manifest } = setup(1_500);
    const a = await peerWithReplica('rs-a', manifest, w0);
    const b = await peerWithReplica('rs-b', manifest, w0);
    const c = await peerWithReplica('rs-c', manifest, w0);
    await connect(a.peer, b.peer);
    // c is cut off: it closes round 0 alone (deadline) with its own delta; a and b merge theirs.
    await waitFor('a and b see each other', () => a.replica.activeContributors() === 2);
    await Promise.all([
      contribute(a.replica, problem, 0),
      contribute(b.replica, problem, 1),
      contribute(c.replica, problem, 2),
    ]);
    await waitFor('all closed round 0', () => [a, b, c].every((x) => x.replica.current().round === 1));
    const majority = a.replica.current().sha256;
    expect(b.replica.current().sha256).toBe(majority);
    expect(c.replica.current().sha256).not.toBe(majority);
    const resyncs: string[] = [];
    c.replica.events.on('resync', (e) => resyncs.push(e.reason));
    await connect(c.peer, a.peer);
    await connect(c.peer, b.peer);
    await waitFor('c adopted the majority model', () => c.replica.current().sha256 === majority);
    expect(resyncs).toEqual(['disagreement']);
    // Momentum came along: the next round merges to the same bits everywhere.
    await waitFor('3 trainers', () => [a, b, c].every((x) => x.replica.activeContributors() === 3));
    await Promise.all([a, b, c].map((x, i) => contribute(x.replica, problem, i)));
    await waitFor('round 1 merged', () => [a, b, c].every((x) => x.replica.current().round === 2));
    expect(new Set([a, b, c].map((x) => x.replica.current().sha256)).size).toBe(1);
  });
});
