import { encodeFrame, topics } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { Liveness, type HeartbeatState } from '../src/liveness.js';
import { FAKE_TIMINGS, FakeHub } from './fake-network.js';
import { admissionOf, forgedStamp, identities } from './identities.js';
import { smallJob } from './parts.fixture.js';

const TRAINING: HeartbeatState = {
  status: 'training',
  round: 3,
  modelSha256: null,
  memoryBytes: 1,
  progress: { step: 7, loss: 0.5, tokensPerSec: 123 },
};

describe('liveness (no libp2p)', () => {
  it('counts fresh training heartbeats of trainers, and the authors of open-round deltas', async () => {
    const ids = await identities(5);
    const { manifest } = smallJob({ round: { peerTimeoutMs: 1_000 } });
    const hub = new FakeHub();
    const roles = ['worker', 'browser', 'worker', 'dashboard', 'worker'] as const;
    const states: HeartbeatState[] = [
      TRAINING,
      TRAINING,
      { ...TRAINING, status: 'paused' },
      TRAINING,
      TRAINING,
    ];
    const parts = ids.map((id, i) => {
      const l = new Liveness(hub.join(id, roles[i]), manifest, admissionOf(manifest, id), () => states[i]!);
      l.start();
      return l;
    });
    // Peer 4 stays silent; the others announce themselves.
    await Promise.all(parts.slice(0, 4).map((l) => l.publish()));
    await hub.settled();
    const now = Date.now();
    const open = (authors: string[] = []) => ({ round: TRAINING.round, authors });
    // Peer 0 counts itself, the browser; not the paused worker nor the dashboard.
    expect(parts[0]!.activeContributors(open(), now)).toBe(2);
    // A delta of the open round shows a trainer is active without a heartbeat.
    expect(parts[0]!.activeContributors(open([ids[4]!.id]), now)).toBe(3);
    // Heartbeats go stale after peerTimeoutMs.
    expect(parts[0]!.activeContributors(open(), now + 1_001)).toBe(1);
    // A dashboard is not a trainer itself.
    expect(parts[3]!.activeContributors(open(), now)).toBe(2);
  });

  it('past spreadAbove peers heard, freshness lasts longer in proportion, up to maxSpread', async () => {
    const ids = await identities(5);
    const { manifest } = smallJob({ round: { peerTimeoutMs: 1_000 } });
    const hub = new FakeHub();
    const timings = { ...FAKE_TIMINGS, spreadAbove: 2, maxSpread: 1.5 };
    const parts = ids.map((id) => {
      const l = new Liveness(
        hub.join(id, 'worker', timings),
        manifest,
        admissionOf(manifest, id),
        () => TRAINING,
      );
      l.start();
      return l;
    });
    const open = { round: TRAINING.round, authors: [] };
    expect(parts[0]!.spread()).toBe(1);
    await Promise.all(parts.slice(1).map((l) => l.publish()));
    await hub.settled();
    const now = Date.now();
    // 4 peers heard over spreadAbove 2 is 2, capped at 1.5: heartbeats stay fresh 1.5 s, not 1 s.
    expect(parts[0]!.spread()).toBe(1.5);
    expect(parts[0]!.freshMs()).toBe(1_500);
    expect(parts[0]!.activeContributors(open, now + 1_400)).toBe(5);
    expect(parts[0]!.activeContributors(open, now + 1_501)).toBe(1);
  });

  it('the heartbeat carries what the trainer reported; garbage on the topic is rejected', async () => {
    const [a, b] = await identities(2);
    const { manifest } = smallJob();
    const hub = new FakeHub();
    const netB = hub.join(b!);
    const seen: number[] = [];
    netB.events.on('heartbeat', (e) => seen.push(e.heartbeat.tokensPerSec));
    new Liveness(netB, manifest, admissionOf(manifest, b!), () => TRAINING).start();
    const liveA = new Liveness(hub.join(a!), manifest, admissionOf(manifest, a!), () => TRAINING);
    expect(liveA.heartbeat()).toMatchObject({ step: 7, loss: 0.5, tokensPerSec: 123, round: 3 });
    await liveA.publish();
    await hub.settled();
    expect(seen).toEqual([123]);
    const topic = topics.heartbeat(manifest.jobId);
    expect(netB.receive(topic, a!.id, new Uint8Array([1, 2, 3]))).toEqual({
      action: 'reject',
      reason: 'malformed',
    });
    const otherJob = encodeFrame({ ...liveA.heartbeat(), jobId: 'other' });
    expect(netB.receive(topic, a!.id, otherJob)).toEqual({ action: 'reject', reason: 'wrong-job' });
    expect(netB.counters.snapshot().rejected).toMatchObject({ malformed: 1, 'wrong-job': 1 });
  });

  it('a heartbeat whose stamp does not admit its sender is refused and not counted', async () => {
    const [a, b] = await identities(2);
    const { manifest } = smallJob();
    const hub = new FakeHub();
    const live = new Liveness(hub.join(b!), manifest, admissionOf(manifest, b!), () => TRAINING);
    live.start();
    const liveA = new Liveness(hub.join(a!), manifest, admissionOf(manifest, a!), () => TRAINING);
    const topic = topics.heartbeat(manifest.jobId);
    const forged = encodeFrame({ ...liveA.heartbeat(), admission: forgedStamp(manifest, a!.id) });
    expect(hub.networks.get(b!.id)!.receive(topic, a!.id, forged)).toEqual({
      action: 'reject',
      reason: 'not-admitted',
    });
    expect(live.activeContributors({ round: 0, authors: [] })).toBe(1);
    expect(hub.networks.get(b!.id)!.receive(topic, a!.id, encodeFrame(liveA.heartbeat()))).toEqual({
      action: 'accept',
    });
    expect(live.activeContributors({ round: 0, authors: [] })).toBe(2);
  });
});
