import { RdpAccountant } from '@slimswarm/privacy';
import { JobManifest, privateDeltaNormBound, type PrivacyConfig } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, trainLoop, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import { PrivacyBudget } from '../src/privacy-budget.js';
import { createSwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { FakeHub } from './fake-network.js';
import { identities } from './identities.js';

const PRIVACY: PrivacyConfig = { mechanism: 'gaussian', clipNorm: 0.1, noiseMultiplier: 2, delta: 1e-5 };

describe('PrivacyBudget', () => {
  it('is 0 before any release and grows with every one', () => {
    const budget = new PrivacyBudget(PRIVACY);
    expect(budget.spent()).toEqual({ releases: 0, epsilon: 0, delta: 1e-5 });
    const eps: number[] = [];
    for (let i = 0; i < 5; i++) {
      budget.released();
      eps.push(budget.spent().epsilon);
    }
    expect(budget.spent().releases).toBe(5);
    for (let i = 1; i < eps.length; i++) expect(eps[i]!).toBeGreaterThan(eps[i - 1]!);
  });

  it('is the plain Gaussian composed: T releases at z cost what one release at z/√T does', () => {
    const budget = new PrivacyBudget(PRIVACY, 16);
    const once = new RdpAccountant()
      .compose({ noiseMultiplier: PRIVACY.noiseMultiplier / 4, sampleRate: 1 })
      .spent(PRIVACY.delta);
    expect(budget.spent().epsilon).toBeCloseTo(once.epsilon, 9);
  });

  it('goes on from a saved count, and refuses one that is not a count', () => {
    const resumed = new PrivacyBudget(PRIVACY, 3);
    const fresh = new PrivacyBudget(PRIVACY);
    for (let i = 0; i < 3; i++) fresh.released();
    expect(resumed.spent()).toEqual(fresh.spent());
    expect(() => new PrivacyBudget(PRIVACY, -1)).toThrow(
      expect.objectContaining({ name: 'InvalidPrivacyParameterError' }),
    );
    expect(() => new PrivacyBudget(PRIVACY, 1.5)).toThrow(
      expect.objectContaining({ name: 'InvalidPrivacyParameterError' }),
    );
  });
});

function privateJob() {
  const problem = syntheticProblem(2048, 9);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const plain = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: layout.size,
    codec: 'dense-f32',
    errorFeedback: false,
    aggregation: {
      rule: 'trimmed-mean',
      normBound: privateDeltaNormBound(PRIVACY, layout.size),
      trimFraction: 0,
    },
    round: { quorumFraction: 1, deadlineMs: 5_000, minDeltas: 1, peerTimeoutMs: 5_000 },
  });
  return { problem, w0, manifest: JobManifest.parse({ ...plain, privacy: PRIVACY }) };
}

describe('a replica in a private job', () => {
  it('counts its releases (from a saved count on), and its heartbeats carry the ε they spent', async () => {
    const { problem, w0, manifest } = privateJob();
    const ids = await identities(2);
    const hub = new FakeHub();
    const nets = ids.map((id) => hub.join(id));
    const epsilonOf = new Map<string, number | undefined>();
    const losses = new Set<number | null>();
    nets[1]!.events.on('heartbeat', (e) => {
      epsilonOf.set(e.peer, e.heartbeat.epsilon);
      losses.add(e.heartbeat.loss);
    });
    try {
      const [a, b] = await Promise.all([
        createSwarmReplica({
          peer: { services: { swarm: nets[0]! } },
          manifest,
          initialWeights: w0,
          privacyReleases: 10,
        }),
        createSwarmReplica({ peer: { services: { swarm: nets[1]! } }, manifest, initialWeights: w0 }),
      ]);
      a.reportProgress({ step: 30, loss: 1.25, tokensPerSec: 10 });
      expect(a.privacySpent()?.releases).toBe(10);
      expect(b.privacySpent()).toEqual({ releases: 0, epsilon: 0, delta: PRIVACY.delta });
      await Promise.all([a, b].map((r, i) => trainLoop(r, problem, i, 3, manifest)));
      const spentA = a.privacySpent()!;
      const spentB = b.privacySpent()!;
      expect([spentA.releases, spentB.releases]).toEqual([13, 3]);
      expect(spentA.epsilon).toBeCloseTo(new PrivacyBudget(PRIVACY, 13).spent().epsilon, 12);
      expect(spentA.epsilon).toBeGreaterThan(spentB.epsilon);
      // The next heartbeat says what the releases spent.
      const heard = new Promise<void>((resolve) => {
        const off = nets[1]!.events.on('heartbeat', (e) => {
          if (e.peer === ids[0]!.id && e.heartbeat.epsilon === spentA.epsilon) {
            off();
            resolve();
          }
        });
      });
      await heard;
      expect(epsilonOf.get(ids[0]!.id)).toBe(spentA.epsilon);
      // The trainer's loss (of its own text, not noised) stayed out of its heartbeats.
      expect([...losses]).toEqual([null]);
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });

  it('is not private without privacy in the manifest: no ε anywhere', async () => {
    const { w0, manifest } = privateJob();
    const { privacy: _, ...plain } = manifest;
    const [id] = await identities(1);
    const net = new FakeHub().join(id!);
    try {
      const r = await createSwarmReplica({
        peer: { services: { swarm: net } },
        manifest: plain,
        initialWeights: w0,
      });
      expect(r.privacySpent()).toBeNull();
    } finally {
      await net.stop();
    }
  });
});
