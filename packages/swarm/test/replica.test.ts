import { describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, trainLoop, zeroWeights } from '../bench/synthetic-problem.js';
import { NoSyncSourceError } from '../src/errors.js';
import { ModelLayout } from '../src/model-layout.js';
import { createSwarmReplica, type SwarmReplica } from '../src/replica.js';
import { roundIsDue } from '../src/round-rule.js';
import { RoundWaiters } from '../src/round-waiters.js';
import { modelSha256 } from '../src/wire.js';
import { FakeHub } from './fake-network.js';
import { identities } from './identities.js';

function job() {
  const problem = syntheticProblem(2048, 9);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: layout.size,
    codec: 'topk-int8',
    topkFraction: 0.05,
    round: { quorumFraction: 1, deadlineMs: 5_000, minDeltas: 1, peerTimeoutMs: 5_000 },
  });
  return { problem, w0, manifest };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('the replica over an in-memory network (no libp2p)', () => {
  it('4 replicas merge the same deltas into bitwise-identical models; a late joiner syncs', async () => {
    const { problem, w0, manifest } = job();
    const ids = await identities(5);
    const hub = new FakeHub();
    const nets = ids.map((id) => hub.join(id));
    const replicas: SwarmReplica[] = await Promise.all(
      nets
        .slice(0, 4)
        .map((net) =>
          createSwarmReplica({ peer: { services: { swarm: net } }, manifest, initialWeights: w0 }),
        ),
    );
    try {
      await until('4 active trainers', () => replicas.every((r) => r.activeContributors() === 4));
      const accepted: number[] = [];
      replicas[0]!.events.on('round:closed', (e) => accepted.push(e.accepted));
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 3, manifest)));
      await until('every replica at round 3', () => replicas.every((r) => r.current().round === 3));
      const shas = new Set(replicas.map((r) => r.current().sha256));
      expect(shas.size).toBe(1);
      expect(accepted).toEqual([4, 4, 4]);
      const late = await createSwarmReplica({
        peer: { services: { swarm: nets[4]! } },
        manifest,
        initialWeights: w0,
        syncFromPeers: true,
        joinTimeoutMs: 5_000,
      });
      replicas.push(late);
      expect(late.current()).toMatchObject({ round: 3, sha256: [...shas][0] });
      expect(nets[4]!.counters.snapshot().resyncs).toBe(1);
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });

  it('joining with nobody to sync from fails with NoSyncSourceError and leaves nothing running', async () => {
    const { manifest, w0 } = job();
    const [a] = await identities(1);
    const net = new FakeHub().join(a!);
    await expect(
      createSwarmReplica({
        peer: { services: { swarm: net } },
        manifest,
        initialWeights: w0,
        syncFromPeers: true,
        joinTimeoutMs: 100,
      }),
    ).rejects.toThrow(NoSyncSourceError);
    expect(net.published.length).toBeGreaterThanOrEqual(1); // its 'syncing' heartbeat
    const before = net.published.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(net.published.length).toBe(before); // timers stopped
  });
});

describe('the closing rule', () => {
  const policy = job().manifest.round;
  it('needs minDeltas, then a quorum of the active contributors or the deadline', () => {
    const at = (accepted: number, active: number, now: number) =>
      roundIsDue(
        { ...policy, quorumFraction: 0.75, minDeltas: 2, deadlineMs: 1000 },
        {
          accepted,
          openedAt: 0,
          activeContributors: active,
          now,
        },
      );
    expect(at(1, 1, 5000)).toBe(false); // below minDeltas, even past the deadline
    expect(at(2, 4, 10)).toBe(false); // 2 of 4 < 75 %
    expect(at(3, 4, 10)).toBe(true);
    expect(at(2, 4, 1000)).toBe(true); // the deadline
    expect(roundIsDue(policy, { accepted: 3, openedAt: null, activeContributors: 1, now: 0 })).toBe(false);
  });
});

describe('RoundWaiters', () => {
  it('waits for the close of the round the delta joined, or any resync', async () => {
    const w = new RoundWaiters<string>();
    w.contributed(4);
    // The round already closed (4 < current 5): resolves at once.
    await expect(w.wait(5, () => 'g5')).resolves.toBe('g5');
    w.contributed(5);
    const next = w.wait(5, () => 'x');
    w.opened(5, false, () => 'early'); // round 5 itself opening releases nothing
    w.opened(6, false, () => 'g6');
    await expect(next).resolves.toBe('g6');
    w.contributed(7);
    const resynced = w.wait(6, () => 'x');
    w.opened(6, true, () => 'synced');
    await expect(resynced).resolves.toBe('synced');
    const controller = new AbortController();
    const aborted = w.wait(6, () => 'x', controller.signal);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
  });
});
