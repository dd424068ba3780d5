import {
  EquivocationEvidence,
  PROTOCOL_VERSION,
  SchemaViolationError,
  decodeFrame,
  encodeFrame,
  topics,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { describe, expect, it, vi } from 'vitest';
import { syntheticManifest, syntheticProblem, trainLoop, zeroWeights } from '../bench/synthetic-problem.js';
import { AntiEntropy } from '../src/anti-entropy.js';
import { decodeJobFrame, ignored, rejected } from '../src/delta-verdict.js';
import { Bans, Equivocation, OwnDeltas, buildEvidence, checkEvidence } from '../src/equivocation.js';
import { ModelLayout } from '../src/model-layout.js';
import { createSwarmReplica, type SwarmReplica } from '../src/replica.js';
import { RoundState } from '../src/round-state.js';
import * as signature from '../src/signature.js';
import { modelSha256 } from '../src/wire.js';
import { FAKE_TIMINGS, FakeHub } from './fake-network.js';
import { refsFrame } from './hand-anti-entropy.js';
import { admissionOf, deltaFrame, identities, signedBy, type Identity } from './identities.js';
import { deltaOf, smallJob } from './parts.fixture.js';

/** Two different signed deltas `who` made for `state`'s open round (one part each unless `maxPartBytes`). */
function twoDeltas(state: RoundState, who: Identity, maxPartBytes = 1 << 20) {
  return [deltaOf(state, who, maxPartBytes, 0.01), deltaOf(state, who, maxPartBytes, 0.02)] as const;
}

/** The evidence `state.offer` handed back, or a failure. */
function evidenceOf(v: ReturnType<RoundState['offer']>): EquivocationEvidence {
  if (!('evidence' in v)) throw new Error(`expected an equivocation, got ${JSON.stringify(v)}`);
  return v.evidence;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('equivocation in the round state (no network)', () => {
  it('a second delta for the round: evidence built, both dropped, the author banned, later deltas refused', async () => {
    const [eve, alice] = await identities(2);
    const { manifest, state } = smallJob();
    const s = state();
    const [x, y] = twoDeltas(s, eve!);
    const px = x.parts[0]!;
    const py = y.parts[0]!;
    expect(s.offer(deltaFrame(px.header, px.bytes), eve!.id, 0)).toMatchObject({ action: 'accept' });
    const honest = deltaOf(s, alice!).parts[0]!;
    expect(s.offer(deltaFrame(honest.header, honest.bytes), alice!.id, 0).action).toBe('accept');
    expect(s.acceptedCount()).toBe(2);

    const v = s.offer(deltaFrame(py.header, py.bytes), eve!.id, 0);
    expect(v).toMatchObject({ action: 'reject', reason: 'equivocation' });
    const e = evidenceOf(v);
    // Both headers as signed, the lower digest first, as gossip part 0 of 1; it checks out for anyone.
    expect(e).toMatchObject({ type: 'equivocation-evidence', jobId: manifest.jobId, author: eve!.id });
    expect([e.first.payloadSha256, e.second.payloadSha256]).toEqual(
      [px.header.payloadSha256, py.header.payloadSha256].sort(),
    );
    expect(checkEvidence(e, manifest)).toBeNull();
    const decoded = decodeJobFrame(encodeFrame(e), manifest, 'equivocation-evidence');
    expect('frame' in decoded && decoded.frame.message).toEqual(e);

    // Dropped and banned: refused before any signature check, in this round and the next.
    expect(s.has(eve!.id, 0)).toBe(false);
    expect(s.isBanned(eve!.id)).toBe(true);
    const verify = vi.spyOn(signature, 'verifyDeltaAuthor');
    expect(s.offer(deltaFrame(px.header, px.bytes), eve!.id, 0)).toEqual(rejected('banned'));
    expect(verify).not.toHaveBeenCalled();
    verify.mockRestore();
    const closed = s.close(0);
    expect(closed.peers).toEqual([alice!.id]);
    const next = deltaOf(s, eve!).parts[0]!;
    expect(s.offer(deltaFrame(next.header, next.bytes), eve!.id, 0)).toEqual(rejected('banned'));
    const honestNext = deltaOf(s, alice!).parts[0]!;
    expect(s.offer(deltaFrame(honestNext.header, honestNext.bytes), alice!.id, 0).action).toBe('accept');
  });

  it('a partial delta is dropped too; the same delta whole (a pull) is not an equivocation', async () => {
    const [eve, bob] = await identities(2);
    const { state } = smallJob();
    const s = state();
    const [x, y] = twoDeltas(s, eve!, 700);
    expect(x.parts.length).toBeGreaterThan(2);
    s.offer(deltaFrame(x.parts[0]!.header, x.parts[0]!.bytes), eve!.id, 0);
    s.offer(deltaFrame(x.parts[1]!.header, x.parts[1]!.bytes), eve!.id, 0);
    expect(s.heldFrom(eve!.id, 0)?.complete).toBe(false);
    const v = s.offer(deltaFrame(y.parts[2]!.header, y.parts[2]!.bytes), eve!.id, 0);
    expect(evidenceOf(v).author).toBe(eve!.id);
    expect(s.heldFrom(eve!.id, 0)).toBeUndefined();
    const rest = x.parts[2]!;
    expect(s.offer(deltaFrame(rest.header, rest.bytes), eve!.id, 0)).toEqual(rejected('banned'));

    // An honest author's gossip parts, then its whole payload pulled over a stream (part 0 of 1).
    const b = deltaOf(s, bob!, 700);
    s.offer(deltaFrame(b.parts[1]!.header, b.parts[1]!.bytes), bob!.id, 0);
    const whole = s.offer(deltaFrame(b.delta.header, b.delta.payload), bob!.id, 0);
    expect(whole).toMatchObject({ action: 'accept', completed: { peer: bob!.id } });
    expect(s.isBanned(bob!.id)).toBe(false);
  });

  it('a delta that contradicts the one merged in the round closed last is caught as well', async () => {
    const [eve] = await identities(1);
    const { state } = smallJob();
    const s = state();
    const [x, y] = twoDeltas(s, eve!);
    s.offer(deltaFrame(x.parts[0]!.header, x.parts[0]!.bytes), eve!.id, 0);
    expect(s.close(0).peers).toEqual([eve!.id]);
    // The same one again is merely late; another one for that round proves equivocation (ban from now on).
    expect(s.offer(deltaFrame(x.parts[0]!.header, x.parts[0]!.bytes), eve!.id, 0)).toEqual(ignored('late'));
    const e = evidenceOf(s.offer(deltaFrame(y.parts[0]!.header, y.parts[0]!.bytes), eve!.id, 0));
    expect(e.first.round).toBe(0);
    expect(s.isBanned(eve!.id)).toBe(true);
  });

  it('bans are bounded: past the cap the oldest is forgotten', async () => {
    const ids = await identities(3);
    const { manifest, state } = smallJob();
    const bans = new Bans(2);
    const s = new RoundState({ manifest, layout: state().layout, weights: state().weights, bans });
    for (const who of ids) {
      const [x, y] = twoDeltas(s, who);
      bans.add(buildEvidence(manifest.jobId, who.id, x.delta.header, y.delta.header));
    }
    expect(bans.authors()).toEqual([ids[1]!.id, ids[2]!.id]);
    expect(s.isBanned(ids[0]!.id)).toBe(false);
    expect(bans.add(bans.evidenceOf(ids[2]!.id)!)).toBe(false);
  });
});

describe('evidence from others: checked, never taken on trust', () => {
  async function fixture() {
    const [eve, mallory, sender, self] = await identities(4);
    const { manifest, state } = smallJob();
    const s = state();
    const [x, y] = twoDeltas(s, eve!);
    const good = buildEvidence(manifest.jobId, eve!.id, x.delta.header, y.delta.header);
    const hub = new FakeHub();
    const net = hub.join(self!);
    const eq = new Equivocation(net, manifest, s.bans, () => s);
    eq.start();
    const topic = topics.evidence(manifest.jobId);
    return { eve: eve!, mallory: mallory!, sender: sender!, manifest, s, x, y, good, net, eq, topic };
  }

  it('rejects forged or mismatched evidence and blames its sender', async () => {
    const { eve, mallory, sender, manifest, s, x, y, good, net, topic } = await fixture();
    const blamed: string[] = [];
    net.events.on('delta:rejected', (e) => blamed.push(`${e.peer}:${e.reason}`));
    const header = (d: DeltaAnnouncement, patch: Partial<DeltaAnnouncement>) => ({ ...d, ...patch });
    const cases: [string, EquivocationEvidence][] = [
      // A header altered after signing.
      [
        'bad-signature',
        { ...good, second: header(good.second, { stats: { ...good.second.stats, tokens: 7 } }) },
      ],
      // One of the two signed by someone else.
      ['bad-signature', { ...good, second: signedBy(mallory, good.second) }],
      // Eve's two deltas blamed on mallory.
      ['bad-signature', { ...good, author: mallory.id }],
      // Eve signed both, but for another job.
      [
        'wrong-job',
        buildEvidence(
          manifest.jobId,
          eve.id,
          signedBy(eve, header(x.delta.header, { jobId: 'other-job' })),
          signedBy(eve, header(y.delta.header, { jobId: 'other-job' })),
        ),
      ],
    ];
    for (const [reason, e] of cases) {
      expect(checkEvidence(e, manifest)).toEqual(rejected(reason as 'bad-signature'));
      expect(net.receive(topic, sender.id, encodeFrame(e))).toEqual(rejected(reason as 'bad-signature'));
    }
    expect(blamed).toEqual(cases.map(([reason]) => `${sender.id}:${reason}`));
    // What the schema refuses cannot even be encoded: one delta twice, two rounds, the wrong order.
    const schema = [
      { ...good, second: good.first },
      { ...good, second: signedBy(eve, header(good.second, { round: 1, baseRound: 1 })) },
      { ...good, first: good.second, second: good.first },
    ];
    for (const e of schema) {
      expect(EquivocationEvidence.safeParse(e).success).toBe(false);
      expect(() => encodeFrame(e)).toThrow(SchemaViolationError);
    }
    // Another message on the evidence topic is malformed.
    const notEvidence = encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      modelSha256: null,
      from: { round: 0, modelSha256: 'a'.repeat(64) },
    });
    expect(net.receive(topic, sender.id, notEvidence)).toEqual(rejected('malformed'));
    expect(s.isBanned(eve.id)).toBe(false);
    expect(net.counters.snapshot().rejected['bad-signature']).toBe(3);
  });

  it('valid evidence bans the author and drops what it held; the same evidence again costs no signature check', async () => {
    const { eve, sender, s, x, good, net, topic } = await fixture();
    s.offer(deltaFrame(x.parts[0]!.header, x.parts[0]!.bytes), eve.id, 0);
    const banned: unknown[] = [];
    net.events.on('peer:banned', (e) => banned.push(e));
    expect(net.receive(topic, sender.id, encodeFrame(good))).toEqual({ action: 'accept' });
    expect(banned).toEqual([{ peer: eve.id, round: 0, via: 'evidence' }]);
    expect(s.isBanned(eve.id)).toBe(true);
    expect(s.has(eve.id, 0)).toBe(false);
    const verify = vi.spyOn(signature, 'verifyDeltaAuthor');
    expect(net.receive(topic, sender.id, encodeFrame(good))).toEqual(ignored('duplicate'));
    expect(verify).not.toHaveBeenCalled();
    verify.mockRestore();
  });

  it('evidence before the deltas: ban first, then the deltas are refused', async () => {
    const { eve, sender, s, x, y, good, net, topic } = await fixture();
    net.receive(topic, sender.id, encodeFrame(good));
    for (const d of [x, y])
      expect(s.offer(deltaFrame(d.parts[0]!.header, d.parts[0]!.bytes), eve.id, 0)).toEqual(
        rejected('banned'),
      );
    expect(s.acceptedCount()).toBe(0);
  });

  it('before the model arrives (joining) evidence still bans', async () => {
    const [eve, self] = await identities(2);
    const { manifest, state } = smallJob();
    const [x, y] = twoDeltas(state(), eve!);
    const net = new FakeHub().join(self!);
    const bans = new Bans();
    const eq = new Equivocation(net, manifest, bans, () => null);
    eq.start();
    const e = buildEvidence(manifest.jobId, eve!.id, x.delta.header, y.delta.header);
    expect(net.receive(topics.evidence(manifest.jobId), eve!.id, encodeFrame(e))).toEqual({
      action: 'accept',
    });
    expect(bans.has(eve!.id)).toBe(true);
  });
});

describe('anti-entropy and bans', () => {
  it('pulls no delta of a banned author, and reminds the neighbour that named one (at most once a period)', async () => {
    const [eve, self, neighbour] = await identities(3);
    const { manifest, state } = smallJob();
    const s = state();
    const [x, y] = twoDeltas(s, eve!);
    s.ban(buildEvidence(manifest.jobId, eve!.id, x.delta.header, y.delta.header));
    const hub = new FakeHub();
    const net = hub.join(self!);
    const eq = new Equivocation(net, manifest, s.bans, () => s);
    const ae = new AntiEntropy(net, manifest, admissionOf(manifest, self!), {
      rounds: () => s,
      offer: (frame, author) => s.offer(frame, author, Date.now()),
      remind: (author) => eq.remind(author),
    });
    ae.start();
    // The neighbour holds eve's delta x and lists it when asked; it would count any pull.
    const netN = hub.join(neighbour!);
    const ref = { round: 0, peer: eve!.id, payloadSha256: x.delta.payloadSha256 };
    const asked: string[] = [];
    netN.serve('antiEntropy', async (stream) => {
      const request = decodeFrame((await stream.read(AbortSignal.timeout(1000)))!, { maxBytes: 1 << 20 });
      asked.push(request.message.type);
      await stream.write(refsFrame(manifest.jobId, [ref]), AbortSignal.timeout(1000));
      await stream.close(AbortSignal.timeout(1000));
    });
    const evidenceTopic = topics.evidence(manifest.jobId);
    const reminders = () => net.published.filter((p) => p.topic === evidenceTopic).length;
    // Two ref lists naming eve's delta within one period.
    expect(await ae.fetchRefs(neighbour!.id, [0])).toBe(0);
    expect(await ae.fetchRefs(neighbour!.id, [0])).toBe(0);
    await hub.settled();
    expect(asked).toEqual(['delta-refs-request', 'delta-refs-request']); // and no delta-pull
    expect(reminders()).toBe(1);
  });

  it('a summary naming another delta of an author for a round pulls it: the pull brings the proof', async () => {
    const [eve, a, b] = await identities(3);
    const { manifest, state } = smallJob();
    const [sa, sb] = [state(), state()];
    const [x, y] = twoDeltas(sa, eve!);
    sa.offer(deltaFrame(x.parts[0]!.header, x.parts[0]!.bytes), eve!.id, 0);
    sb.offer(deltaFrame(y.parts[0]!.header, y.parts[0]!.bytes), eve!.id, 0);
    const hub = new FakeHub();
    const [netA, netB] = [hub.join(a!), hub.join(b!)];
    const parts = [
      [netA, sa],
      [netB, sb],
    ] as const;
    const ae = parts.map(([net, s], i) => {
      const eq = new Equivocation(net, manifest, s.bans, () => s);
      eq.start();
      const part = new AntiEntropy(net, manifest, admissionOf(manifest, [a!, b!][i]!), {
        rounds: () => s,
        offer: (frame, author) => {
          const v = s.offer(frame, author, Date.now());
          return 'evidence' in v ? eq.detected(v.evidence) : v;
        },
      });
      part.start();
      return part;
    });
    const blamed: string[] = [];
    netB.events.on('delta:rejected', (e) => blamed.push(e.peer));
    await ae[0]!.publish();
    await hub.settled();
    ae[1]!.reconcile(); // the digests differ (x against y): b asks a for its refs
    await until('both banned', () => sa.isBanned(eve!.id) && sb.isBanned(eve!.id));
    expect([sa.has(eve!.id, 0), sb.has(eve!.id, 0)]).toEqual([false, false]);
    // b pulled x from a and found the equivocation: it counts against eve, not against a, who carried it.
    expect(netB.counters.snapshot().rejected.equivocation).toBe(1);
    expect(blamed).toEqual([eve!.id]);
  });
});

describe('a peer never signs two deltas for one round', () => {
  it('OwnDeltas remembers the rounds it sent for, and treats rounds too old to tell as sent', () => {
    const own = new OwnDeltas();
    expect(own.sentFor(0)).toBeNull();
    own.record(0, 'a'.repeat(64));
    expect(own.sentFor(0)).toBe('a'.repeat(64));
    expect(own.sentFor(1)).toBeNull();
    own.record(40, 'b'.repeat(64));
    expect(own.sentFor(0)).toBe(''); // forgotten: taken as sent
    expect(own.sentFor(39)).toBeNull();
  });

  it('after a resync back into a round it sent a delta for, contribute sends none and nextRound waits', async () => {
    const problem = syntheticProblem(512, 3);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const manifest = syntheticManifest({
      baseSha256: modelSha256(layout, layout.flatten(w0)),
      params: layout.size,
      codec: 'dense-f32',
      round: { quorumFraction: 1, deadlineMs: 60_000, minDeltas: 2, peerTimeoutMs: 5_000 },
    });
    const [self] = await identities(1);
    const net = new FakeHub().join(self!);
    const replica = await createSwarmReplica({
      peer: { services: { swarm: net } },
      manifest,
      initialWeights: w0,
    });
    try {
      const base = replica.current();
      const local = Object.fromEntries(
        Object.entries(base.weights).map(([k, v]) => [k, v.map((w) => w - 0.01)]),
      );
      const first = await replica.contribute(base, local, { tokens: 1, steps: 1, meanLoss: 1 });
      const deltaTopic = topics.deltas(manifest.jobId);
      const sent = () => net.published.filter((p) => p.topic === deltaTopic).length;
      expect(sent()).toBe(1);
      // A resync to another model of the same round (as after a disagreement) drops the held delta.
      const other = layout.flatten(local);
      const resync = (replica as unknown as { adopt: (s: object, reason: string) => void }).adopt;
      const replayed = new RoundState({ manifest, layout, weights: other });
      resync.call(replica, { replay: { state: replayed }, from: 'someone' }, 'disagreement');
      let released = false;
      void replica.nextRound().then(() => (released = true));
      const again = replica.current();
      const second = await replica.contribute(again, local, { tokens: 1, steps: 1, meanLoss: 1 });
      expect(second).toEqual({ round: 0, payloadSha256: first.payloadSha256, wireBytes: 0, parts: 0 });
      expect(sent()).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      expect(released).toBe(false);
    } finally {
      await replica.stop();
    }
  });
});

describe('replicas over an in-memory network', () => {
  it('split views: each honest replica got another delta of the equivocator; both ban it and stay identical', async () => {
    const problem = syntheticProblem(2048, 9);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const manifest = syntheticManifest({
      baseSha256: modelSha256(layout, layout.flatten(w0)),
      params: layout.size,
      codec: 'topk-int8',
      round: { quorumFraction: 1, deadlineMs: 5_000, minDeltas: 1, peerTimeoutMs: 5_000 },
    });
    const [eve, ...ids] = await identities(3);
    const hub = new FakeHub();
    const nets = ids.map((id) => hub.join(id));
    const replicas: SwarmReplica[] = await Promise.all(
      nets.map((net) =>
        createSwarmReplica({ peer: { services: { swarm: net } }, manifest, initialWeights: w0 }),
      ),
    );
    try {
      const bans = nets.map(() => [] as string[]);
      nets.forEach((net, i) => net.events.on('peer:banned', (e) => bans[i]!.push(`${e.peer}:${e.via}`)));
      const merged = new Set<string>();
      for (const r of replicas) r.events.on('round:closed', (e) => e.peers.forEach((p) => merged.add(p)));
      // Eve's two deltas for round 0, one to each replica (the fake hub does not forward gossip).
      const s = new RoundState({ manifest, layout, weights: layout.flatten(w0) });
      const [x, y] = twoDeltas(s, eve!).map((d) =>
        encodeFrame(d.parts[0]!.header, {
          part: { dtype: 'u8', shape: [d.parts[0]!.bytes.length], data: d.parts[0]!.bytes },
        }),
      );
      const topic = topics.deltas(manifest.jobId);
      expect(nets[0]!.receive(topic, eve!.id, x!)).toEqual({ action: 'accept' });
      expect(nets[1]!.receive(topic, eve!.id, y!)).toEqual({ action: 'accept' });
      // Summaries name the other's delta; a pull brings the proof to one side, its evidence to the other.
      await until('both ban eve', () => bans.every((b) => b.length === 1));
      expect(bans.flat().sort()).toEqual([`${eve!.id}:delta`, `${eve!.id}:evidence`].sort());
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 3, manifest)));
      await until('both at round 3', () => replicas.every((r) => r.current().round === 3));
      expect(replicas[0]!.current().sha256).toBe(replicas[1]!.current().sha256);
      expect(merged.has(eve!.id)).toBe(false);
      expect(nets.map((n) => n.counters.snapshot().resyncs)).toEqual([0, 0]);
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });

  it("one replica merged the equivocator's other delta before the evidence: it bans from then on and resyncs", async () => {
    const problem = syntheticProblem(2048, 9);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const manifest = syntheticManifest({
      baseSha256: modelSha256(layout, layout.flatten(w0)),
      params: layout.size,
      codec: 'topk-int8',
      // Until b resyncs, a and c refuse its deltas (unknown base) and wait for its share until the deadline.
      round: { quorumFraction: 1, deadlineMs: 1_500, minDeltas: 1, peerTimeoutMs: 5_000 },
    });
    const [eve, ...ids] = await identities(4);
    const hub = new FakeHub();
    // Summaries only after round 0 closed: nobody pulls the other delta while the round is open.
    const nets = ids.map((id) => hub.join(id, 'worker', { ...FAKE_TIMINGS, antiEntropyIntervalMs: 600 }));
    const replicas: SwarmReplica[] = await Promise.all(
      nets.map((net) =>
        createSwarmReplica({ peer: { services: { swarm: net } }, manifest, initialWeights: w0 }),
      ),
    );
    try {
      await until('3 active trainers', () => replicas.every((r) => r.activeContributors() === 3));
      const s = new RoundState({ manifest, layout, weights: layout.flatten(w0) });
      const [x, y] = twoDeltas(s, eve!).map((d) =>
        encodeFrame(d.parts[0]!.header, {
          part: { dtype: 'u8', shape: [d.parts[0]!.bytes.length], data: d.parts[0]!.bytes },
        }),
      );
      const topic = topics.deltas(manifest.jobId);
      // a and c take x, b takes y; all three merge round 0 with the delta they hold.
      for (const [i, frame] of [x, y, x].entries()) nets[i]!.receive(topic, eve!.id, frame!);
      const merged: string[][] = nets.map(() => []);
      const bans: string[][] = nets.map(() => []);
      nets.forEach((net, i) => net.events.on('peer:banned', (e) => bans[i]!.push(e.via)));
      replicas.forEach((r, i) => r.events.on('round:closed', (e) => merged[i]!.push(...e.peers)));
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 1, manifest)));
      await until('round 0 closed everywhere', () => merged.every((m) => m.includes(eve!.id)));
      expect(new Set(replicas.map((r) => r.current().sha256)).size).toBe(2);
      // y reaches a late (a forward): a proves the equivocation against what it merged, b and c check it.
      expect(nets[0]!.receive(topic, eve!.id, y!)).toEqual(rejected('equivocation'));
      await until('all three ban eve', () => bans.every((b) => b.length === 1));
      expect(bans.map((b) => b[0])).toEqual(['delta', 'evidence', 'evidence']);
      // b, alone with y merged, resyncs to the model of a and c; training goes on without eve.
      await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 4, manifest)));
      await until('one model at round 4', () =>
        replicas.every((r) => r.current().round >= 4 && r.current().sha256 === replicas[0]!.current().sha256),
      );
      expect(nets[1]!.counters.snapshot().resyncs).toBeGreaterThanOrEqual(1);
      expect(nets[0]!.counters.snapshot().resyncs + nets[2]!.counters.snapshot().resyncs).toBe(0);
    } finally {
      await Promise.all(nets.map((n) => n.stop()));
    }
  });
});
