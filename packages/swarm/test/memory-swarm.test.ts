import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import type { SwarmReplica } from '../src/replica.js';
import { ModelLayout } from '../src/model-layout.js';
import { modelSha256 } from '../src/wire.js';
import type { SwarmPeer } from '../src/peer.js';
import { memoryPeers, trainLoop, waitFor, joinReplicas } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.map((c) => c()));
  cleanup = [];
});

function setup(params: number, overrides: Partial<Parameters<typeof syntheticManifest>[0]> = {}) {
  const problem = syntheticProblem(params, 5);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params,
    // Generous: this test is about identical merges, not about the closing rule under a loaded CPU.
    round: { quorumFraction: 1, deadlineMs: 15_000, minDeltas: 1, peerTimeoutMs: 10_000 },
    ...overrides,
  });
  return { problem, layout, w0, manifest };
}

const join = (peers: SwarmPeer[], manifest: unknown, w0: Record<string, Float32Array>) =>
  joinReplicas(peers, manifest, w0, cleanup);

function sameModel(replicas: SwarmReplica[]): boolean {
  const s = replicas.map((r) => r.current());
  return s.every((x) => x.round === s[0]!.round && x.sha256 === s[0]!.sha256);
}

describe('swarm on the memory transport', () => {
  it('8 peers training a synthetic problem reach bitwise-identical replicas', async () => {
    const { problem, w0, manifest } = setup(4096, { codec: 'topk-int8', topkFraction: 0.05 });
    const peers = await memoryPeers('eight', 8);
    const replicas = await join(peers, manifest, w0);
    await waitFor('everyone sees 8 active trainers', () =>
      replicas.every((r) => r.activeContributors() === 8),
    );
    const rounds = 5;
    const closed: number[] = [];
    replicas[0]!.events.on('round:closed', (e) => closed.push(e.accepted));
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, rounds, manifest)));
    await waitFor('quiescence', () => sameModel(replicas));
    const snapshots = replicas.map((r) => r.current());
    for (const s of snapshots) {
      for (const name of Object.keys(s.weights)) {
        expect(
          Buffer.from(s.weights[name]!.buffer).equals(Buffer.from(snapshots[0]!.weights[name]!.buffer)),
        ).toBe(true);
      }
    }
    expect(snapshots[0]!.round).toBe(rounds);
    expect(closed).toEqual(Array(rounds).fill(8));
    const stats = peers[0]!.services.swarm.stats();
    expect(stats.accepted).toBeGreaterThanOrEqual(7 * rounds);
    expect(Object.values(stats.rejected).every((n) => n === 0)).toBe(true);
    expect(problem.loss(new Float32Array(4096))).toBeGreaterThan(
      problem.loss(Float32Array.from(Object.values(snapshots[0]!.weights).flatMap((w) => [...w]))),
    );
  });

  it('a paused trainer is not waited for, and counts again when it resumes', async () => {
    const { w0, manifest } = setup(256);
    const peers = await memoryPeers('pause', 3);
    const replicas = await join(peers, manifest, w0);
    await waitFor('3 active trainers', () => replicas.every((r) => r.activeContributors() === 3));
    replicas[2]!.setPaused(true);
    await waitFor('the others count 2', () =>
      replicas.slice(0, 2).every((r) => r.activeContributors() === 2),
    );
    replicas[2]!.setPaused(false);
    await waitFor('3 again', () => replicas.every((r) => r.activeContributors() === 3));
  });
});
