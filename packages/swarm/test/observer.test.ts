/** The passive observer's verdict (coordinator, dashboard): what it can judge without a model. */
import {
  JobManifest,
  PROTOCOL_VERSION,
  encodeFrame,
  tensorFromTyped,
  topics,
  type AdmissionStamp,
  type Message,
} from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { AdmittedPeers } from '../src/admission.js';
import { encodeDelta } from '../src/codec.js';
import type { GossipIn, GossipVerdict } from '../src/network.js';
import { buildEvidence } from '../src/equivocation.js';
import { jobTopics, observeJob, observerVerdict } from '../src/observer.js';
import { encodeDeltaPayload } from '../src/wire.js';
import { signedDeltaFrame } from './harness.js';
import { forgedStamp, identities, stampFor } from './identities.js';
import { deltaOf, smallJob } from './parts.fixture.js';

describe('observerVerdict', () => {
  it("leaves a LoRA job's payloads to the replicas: adapter-sized deltas pass, where a full job refuses them", async () => {
    const [author] = await identities(1);
    const { manifest } = smallJob({ codec: 'dense-f32' });
    const lora = { factors: 'b' as const, rank: 2, alpha: 2, targets: ['q' as const] };
    const loraJob = JobManifest.parse({ ...manifest, training: { ...manifest.training, lora } });
    const adapters = new Float32Array(40).fill(0.01); // fewer values than the base's 512
    const frame = (job: JobManifest) =>
      signedDeltaFrame({
        jobId: job.jobId,
        base: job.baseCheckpoint.sha256,
        codec: 'dense-f32',
        payload: encodeDeltaPayload(encodeDelta(adapters, { codec: 'dense-f32', topkFraction: 1 })),
        author: { sign: author!.sign, admission: stampFor(job, author!.id) },
      });
    const judge = (job: JobManifest) =>
      observerVerdict({ from: author!.id, data: frame(job) }, job, 'delta-announce', new AdmittedPeers(job));
    expect(judge(manifest)).toEqual({ action: 'reject', reason: 'malformed' });
    expect(judge(loraJob).action).toBe('accept');
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
