/** The passive observer's verdict (coordinator, dashboard): what it can judge without a model. */
import {
  PROTOCOL_VERSION,
  encodeFrame,
  tensorFromTyped,
  topics,
  type AdmissionStamp,
  type JobManifest,
  type Message,
} from '@slimswarm/protocol';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, it } from 'vitest';
import { AdmittedPeers } from '../src/admission.js';
import { rejected } from '../src/delta-verdict.js';
import { encodeDelta } from '../src/codec.js';
import type { GossipIn, GossipVerdict } from '../src/network.js';
import { buildEvidence } from '../src/equivocation.js';
import { jobTopics, observeJob, observerVerdict } from '../src/observer.js';
import { scoringOf } from '../src/gossip-scoring.js';
import { encodeDeltaPayload } from '../src/wire.js';
import { createNodePeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { FAST, authorOf, bareGossipNode, signedDeltaFrame, waitFor } from './harness.js';
import { forgedStamp, identities, stampFor } from './identities.js';
import { deltaOf, loraJob, smallJob } from './parts.fixture.js';

describe('observerVerdict', () => {
  it("judges a LoRA job's one-part payloads at the adapters' size, which the manifest alone gives", async () => {
    const [author] = await identities(1);
    const { manifest: loraManifest, layout } = loraJob({ aggregation: { rule: 'mean', normBound: 1 } });
    const { manifest: fullManifest } = smallJob({ codec: 'dense-f32' });
    const frame = (job: JobManifest, values: Float32Array) =>
      signedDeltaFrame({
        jobId: job.jobId,
        base: job.baseCheckpoint.sha256,
        codec: 'dense-f32',
        payload: encodeDeltaPayload(encodeDelta(values, { codec: 'dense-f32', topkFraction: 1 })),
        author: { sign: author!.sign, admission: stampFor(job, author!.id) },
      });
    const judge = (job: JobManifest, values: Float32Array) =>
      observerVerdict(
        { from: author!.id, data: frame(job, values) },
        job,
        'delta-announce',
        new AdmittedPeers(job),
      );
    const adapters = new Float32Array(layout.size).fill(0.01);
    expect(judge(loraManifest, adapters).action).toBe('accept');
    expect(judge(fullManifest, adapters)).toEqual(rejected('malformed'));
    // The base's size, too few values, a NaN, a step over the norm bound: all refused before forwarding.
    const bad = {
      malformed: [new Float32Array(fullManifest.baseCheckpoint.params), new Float32Array(40)],
      'non-finite': [adapters.map((x, i) => (i === 7 ? NaN : x))],
      'norm-bound': [new Float32Array(layout.size).fill(1)],
    };
    for (const [reason, payloads] of Object.entries(bad))
      for (const values of payloads)
        expect(judge(loraManifest, values)).toEqual({ action: 'reject', reason });
  });

  it('accepts what it cannot fault, and refuses frames, headers, signatures and one-part payloads', async () => {
    const [author, other, stranger] = await identities(3);
    const { manifest, state, layout } = smallJob({ codec: 'topk-int8', topkFraction: 0.05 });
    const admitted = new AdmittedPeers(manifest);
    const delta = (
      values: Float32Array,
      topkFraction = manifest.compression.topkFraction,
      admission = stampFor(manifest, author!.id),
    ) =>
      signedDeltaFrame({
        jobId: manifest.jobId,
        base: manifest.baseCheckpoint.sha256,
        codec: 'topk-int8',
        payload: encodeDeltaPayload(encodeDelta(values, { codec: 'topk-int8', topkFraction })),
        author: { sign: author!.sign, admission },
      });
    const judge = (data: Uint8Array, from = author!.id, type: Message['type'] = 'delta-announce') =>
      observerVerdict({ from, data }, manifest, type, admitted);
    const small = new Float32Array(layout.size).fill(0.01);

    expect(judge(delta(small)).action).toBe('accept');
    // Another peer's delta in the author's name; the author's delta with a stamp that admits nobody.
    const asOther = delta(small, undefined, stampFor(manifest, other!.id));
    expect(judge(asOther, other!.id)).toEqual({ action: 'reject', reason: 'bad-signature' });
    const unadmitted = delta(small, undefined, forgedStamp(manifest, author!.id));
    expect(judge(unadmitted)).toEqual({ action: 'reject', reason: 'not-admitted' });
    expect(judge(new Uint8Array(64).fill(7))).toEqual({ action: 'reject', reason: 'malformed' });
    // The payload of a one-part delta is judged too: a dense delta disguised as top-k, an oversized step.
    expect(judge(delta(small, 1))).toEqual({ action: 'reject', reason: 'malformed' });
    const huge = new Float32Array(layout.size).fill(manifest.aggregation.normBound);
    expect(judge(delta(huge))).toEqual({ action: 'reject', reason: 'norm-bound' });
    // A heartbeat on the delta topic is malformed; on its own topic it is accepted if its stamp admits.
    const heartbeatOf = (admission: AdmissionStamp) =>
      encodeFrame({
        type: 'heartbeat',
        version: PROTOCOL_VERSION,
        jobId: manifest.jobId,
        role: 'worker',
        status: 'idle',
        round: 0,
        modelSha256: null,
        step: 0,
        tokensPerSec: 0,
        loss: null,
        memoryBytes: 0,
        connectedPeers: [],
        webRtcPeers: [],
        bytesIn: 0,
        bytesOut: 0,
        sentAt: 0,
        admission,
      });
    const heartbeat = heartbeatOf(stampFor(manifest, author!.id));
    expect(judge(heartbeat)).toEqual({ action: 'reject', reason: 'malformed' });
    expect(judge(heartbeat, author!.id, 'heartbeat').action).toBe('accept');
    const forged = heartbeatOf(forgedStamp(manifest, stranger!.id));
    expect(judge(forged, stranger!.id, 'heartbeat')).toEqual({ action: 'reject', reason: 'not-admitted' });
    expect(admitted.isAdmitted(author!.id)).toBe(true);
    expect(admitted.isAdmitted(stranger!.id)).toBe(false);

    // Parts of a multi-part delta carry no whole payload: their headers and signatures are all it judges.
    const { parts } = deltaOf(state(), author!, 256);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      const frame = encodeFrame(p.header, { part: tensorFromTyped('u8', [p.bytes.length], p.bytes) });
      expect(judge(frame).action).toBe('accept');
    }
  });

  it('observeJob judges the four job topics and reports every verdict', async () => {
    const [author] = await identities(1);
    const { manifest } = smallJob();
    const handlers = new Map<string, (msg: GossipIn) => GossipVerdict>();
    const net = {
      subscribe: (topic: string, handle: (msg: GossipIn) => GossipVerdict) =>
        void handlers.set(topic, handle),
      unsubscribe: (topic: string) => void handlers.delete(topic),
    };
    const seen: string[] = [];
    const stop = observeJob(net, manifest, (_msg, v) => seen.push(v.action));
    const jobId = manifest.jobId;
    expect([...handlers.keys()].sort()).toEqual(
      [topics.deltas(jobId), topics.heartbeat(jobId), topics.summaries(jobId), topics.evidence(jobId)].sort(),
    );
    const garbage = { from: author!.id, data: new Uint8Array(10) };
    for (const handle of handlers.values())
      expect(handle(garbage)).toEqual({ action: 'reject', reason: 'malformed' });
    expect(seen).toEqual(['reject', 'reject', 'reject', 'reject']);
    stop();
    expect(handlers.size).toBe(0);
  });

  it('relays equivocation evidence only when both signatures hold', async () => {
    const [eve, mallory] = await identities(2);
    const { manifest, state } = smallJob();
    const a = deltaOf(state(), eve!).delta.header;
    const b = deltaOf(state(), eve!, 1 << 20, 0.02).delta.header;
    const good = buildEvidence(manifest.jobId, eve!.id, a, b);
    const judge = (e: typeof good) =>
      observerVerdict(
        { from: mallory!.id, data: encodeFrame(e) },
        manifest,
        'equivocation-evidence',
        new AdmittedPeers(manifest),
      ).action;
    expect(judge(good)).toBe('accept');
    expect(judge({ ...good, author: mallory!.id })).toBe('reject');
    expect(jobTopics(manifest.jobId)[topics.evidence(manifest.jobId)]).toBe('equivocation-evidence');
  });
});

describe('an observer of a LoRA job between real peers (memory transport)', () => {
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  it('refuses well-signed junk adapters (not forwarded, Rejected) and forwards an honest delta to a replica', async () => {
    const baseParams = 64 * 1024; // a full fine-tuning delta of this base is 256 KiB, the adapters' 512 B
    const job = loraJob({ aggregation: { rule: 'mean', normBound: 1 } }, baseParams);
    const { manifest, layout } = job;
    const topic = topics.deltas(manifest.jobId);
    // attacker, honest → observer ↔ replica: the replica hears the authors only through the observer.
    const [observer, replicaPeer] = await Promise.all(
      ['obs-lora-o', 'obs-lora-r'].map((name) => createNodePeer({ ...FAST, listen: [`/memory/${name}`] })),
    );
    const replica = await createSwarmReplica({
      peer: replicaPeer!,
      manifest,
      initialWeights: layout.view(job.w0),
      shapes: job.shapes,
    });
    // The deltas' verdicts (the replica's heartbeats and summaries pass the observer too).
    const verdicts: string[] = [];
    const stopObserving = observeJob(observer!.services.swarm, manifest, (_msg, v) => {
      if (v.action !== 'accept') verdicts.push(v.reason);
      else if (v.frame.message.type === 'delta-announce') verdicts.push('accept');
    });
    const keys = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]);
    const [attacker, honest] = await Promise.all(keys.map((k, i) => bareGossipNode(`obs-lora-a${i}`, k)));
    cleanup.push(async () => {
      stopObserving();
      await replica.stop();
      await Promise.all([observer!, replicaPeer!, attacker!, honest!].map((n) => n.stop()));
    });
    // Gossipsub forwards to its mesh: wait until the replica and the observer have grafted each other.
    const observerId = observer!.peerId.toString();
    const meshed = new Promise<void>((resolve) =>
      replicaPeer!.services.pubsub.addEventListener('gossipsub:graft', (e) => {
        if (e.detail.topic === topic && e.detail.peerId.toString() === observerId) resolve();
      }),
    );
    await replicaPeer!.dial(observer!.getMultiaddrs()[0]!);
    for (const node of [attacker!, honest!]) {
      node.services.pubsub.subscribe(topic);
      await node.dial(observer!.getMultiaddrs()[0]!);
    }
    await meshed;
    await waitFor('the authors see the observer', () =>
      [attacker!, honest!].every((n) => n.services.pubsub.getSubscribers(topic).length === 1),
    );
    const delivered: Uint8Array[] = [];
    replicaPeer!.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === topic) delivered.push(e.detail.data);
    });

    const frame = (key: (typeof keys)[number], values: Float32Array) =>
      signedDeltaFrame({
        jobId: manifest.jobId,
        base: manifest.baseCheckpoint.sha256,
        codec: 'dense-f32',
        payload: encodeDeltaPayload(encodeDelta(values, { codec: 'dense-f32', topkFraction: 1 })),
        author: authorOf(key, manifest),
      });
    const adapters = new Float32Array(layout.size).fill(0.01);
    const junk = [
      new Float32Array(baseParams), // sized for full fine-tuning: refused by the frame limits, unsigned
      new Float32Array(layout.size - 1),
      adapters.map((x, i) => (i === 3 ? Infinity : x)),
      new Float32Array(layout.size).fill(1), // norm √128 against a bound of 1
    ];
    for (const values of junk) await attacker!.services.pubsub.publish(topic, frame(keys[0]!, values));
    const good = frame(keys[1]!, adapters);
    await honest!.services.pubsub.publish(topic, good);

    await waitFor(
      'the replica accepts the honest delta',
      () => replicaPeer!.services.swarm.stats().accepted === 1,
    );
    await waitFor('the observer judged all five', () => verdicts.length === 5);
    expect([...verdicts].sort()).toEqual(['accept', 'malformed', 'non-finite', 'norm-bound', 'oversize']);
    const rejectedAt = observer!.services.swarm.stats().rejected;
    expect([
      rejectedAt.oversize,
      rejectedAt.malformed,
      rejectedAt['non-finite'],
      rejectedAt['norm-bound'],
    ]).toEqual([1, 1, 1, 1]);
    // Only the honest delta reached the replica: nothing it would Reject (and blame on the observer).
    expect(delivered.map((d) => Buffer.from(d).equals(Buffer.from(good)))).toEqual([true]);
    expect(Object.values(replicaPeer!.services.swarm.stats().rejected).every((n) => n === 0)).toBe(true);
    // The Rejects count against the attacker's score at the observer (gossipsub refreshes it on its
    // heartbeat), not against the honest author's.
    const score = (node: typeof attacker) =>
      scoringOf(observer!.services.pubsub).getScore(node!.peerId.toString());
    await waitFor("the attacker's score falls", () => score(attacker) < 0);
    expect(score(honest)).toBeGreaterThanOrEqual(0);
  });
});
