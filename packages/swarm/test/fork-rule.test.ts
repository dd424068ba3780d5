/**
 * The fork rule and the resync vote at the replica level (in-memory network): Sybil summaries get no vote
 * and no joiner adopts them; honest halves split by a deadline race converge on one history.
 */
import { PROTOCOL_VERSION, encodeFrame, heldRounds, topics, type AdmissionStamp } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, trainLoop, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import { createSwarmReplica, type SwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { FakeHub, type FakeNetwork } from './fake-network.js';
import { identities, stampFor } from './identities.js';

function job(deadlineMs: number) {
  const problem = syntheticProblem(1024, 5);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: layout.size,
    round: { quorumFraction: 1, deadlineMs, minDeltas: 1, peerTimeoutMs: 400 },
  });
  return { problem, w0, manifest };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

/** A summary claiming model `sha` at `round`, as a Sybil with `admission` would gossip it. */
function summary(jobId: string, round: number, sha: string, admission: AdmissionStamp) {
  return encodeFrame({
    type: 'anti-entropy-summary',
    version: PROTOCOL_VERSION,
    jobId,
    round,
    modelSha256: sha,
    pastModels: [],
    held: heldRounds(round, []),
    admission,
  });
}

async function start(nets: FakeNetwork[], manifest: unknown, w0: Record<string, Float32Array>) {
  return Promise.all(
    nets.map((net) =>
      createSwarmReplica({ peer: { services: { swarm: net } }, manifest, initialWeights: w0 }),
    ),
  );
}

describe('the resync vote and the fork rule', () => {
  it('100 Sybil keys announcing a forged model trigger no resync, and a joiner beside them adopts the honest model', async () => {
    const { problem, w0, manifest } = job(5_000);
    const ids = await identities(4);
    const sybils = await identities(100);
    const hub = new FakeHub();
    const nets = ids.map((id) => hub.join(id));
    const replicas: SwarmReplica[] = await start(nets.slice(0, 3), manifest, w0);
    const topic = topics.summaries(manifest.jobId);
    const forged = 'f'.repeat(64);
    // Every Sybil serves weight sync (badly): a dial to one is a resync attempt it provoked.
    const dialled: string[] = [];
    for (const s of sybils)
      hub.join(s).serve('weightSync', async (stream, remote) => {
        dialled.push(remote);
        await stream.close(AbortSignal.timeout(100));
      });
    // Admitted Sybils (each paid its stamp): admission alone does not give them a vote, activity does.
    const frames = sybils.map((s) => summary(manifest.jobId, 9, forged, stampFor(manifest, s.id)));
    const flood = () => {
      for (const net of nets) sybils.forEach((s, i) => net.receive(topic, s.id, frames[i]!));
    };
    try {
      await until('3 trainers', () => replicas.every((r) => r.activeContributors() === 3));
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
      const timer = setInterval(flood, 50);
      try {
        flood();
        // Two more rounds under the flood: every replica checks the resync rule many times meanwhile.
        await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 4, manifest)));
        await until('round 4 everywhere', () => replicas.every((r) => r.current().round === 4));
        expect(new Set(replicas.map((r) => r.current().sha256)).size).toBe(1);
        expect(nets.slice(0, 3).map((n) => n.counters.snapshot().resyncs)).toEqual([0, 0, 0]);
        expect(dialled).toEqual([]);
        // The joiner sees 100 announcements of the forged model and 3 of the honest one.
        const late = await createSwarmReplica({
          peer: { services: { swarm: nets[3]! } },
          manifest,
          initialWeights: w0,
          syncFromPeers: true,
          joinTimeoutMs: 5_000,
        });
        replicas.push(late);
        expect(late.current()).toMatchObject({ round: 4, sha256: replicas[0]!.current().sha256 });
      } finally {
        clearInterval(timer);
      }
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });

  it('honest halves split by a deadline race converge by the fork rule (an even split: lower hash wins)', async () => {
    const { problem, w0, manifest } = job(600);
    const ids = await identities(4);
    const hub = new FakeHub();
    const nets = ids.map((id) => hub.join(id));
    const replicas = await start(nets, manifest, w0);
    try {
      await until('4 trainers', () => replicas.every((r) => r.activeContributors() === 4));
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 1, manifest)));
      await until('round 1 everywhere', () => replicas.every((r) => r.current().round === 1));
      // Each half closes round 1 with its own two deltas (the other half's missed the deadline).
      hub.partition([ids.slice(0, 2).map((i) => i.id), ids.slice(2).map((i) => i.id)]);
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
      const [left, right] = [replicas[0]!.current().sha256, replicas[2]!.current().sha256];
      expect(left).not.toBe(right);
      expect(replicas[1]!.current().sha256).toBe(left);
      const resyncs: string[] = [];
      for (const r of replicas) r.events.on('resync', (e) => resyncs.push(e.reason));
      hub.partition(null);
      const winner = left < right ? left : right;
      await until('one history', () => replicas.every((r) => r.current().sha256 === winner));
      expect(resyncs).toEqual(['disagreement', 'disagreement']);
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });
});
