/**
 * Admission between real peers (memory transport): a peer id without a valid stamp is not counted — its
 * heartbeats, summaries and deltas are refused by every honest peer — and an invite job admits exactly
 * the peer ids the job key issued tickets for.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  PROTOCOL_VERSION,
  encodeFrame,
  heldRounds,
  issueTicket,
  jobKeyOf,
  topics,
  type AdmissionStamp,
  type JobManifest,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SYNTHETIC_JOB_SECRET,
  syntheticManifest,
  syntheticProblem,
  zeroWeights,
} from '../bench/synthetic-problem.js';
import { AdmittedPeers } from '../src/admission.js';
import { AntiEntropy } from '../src/anti-entropy.js';
import { encodeDelta } from '../src/codec.js';
import { ModelLayout } from '../src/model-layout.js';
import type { SwarmPeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { deltaSigner } from '../src/signature.js';
import { encodeDeltaPayload, modelSha256 } from '../src/wire.js';
import { FakeHub } from './fake-network.js';
import {
  bareGossipNode,
  joinReplicas,
  memoryPeers,
  signedDeltaFrame,
  trainLoop,
  waitFor,
} from './harness.js';
import { admissionOf, forgedStamp, identities, stampFor } from './identities.js';
import { smallJob } from './parts.fixture.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(admission: JobManifest['admission']) {
  const problem = syntheticProblem(256, 4);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const sha0 = modelSha256(layout, layout.flatten(w0));
  const manifest = syntheticManifest({
    name: `admission-${admission.mode}`,
    admission,
    baseSha256: sha0,
    params: 256,
    codec: 'dense-f32',
    round: { quorumFraction: 1, deadlineMs: 4_000, minDeltas: 1, peerTimeoutMs: 3_000 },
  });
  return { problem, w0, sha0, manifest };
}

/** A heartbeat of a training worker, as an attacker would send it, with `admission`. */
function heartbeat(jobId: string, admission: AdmissionStamp): Uint8Array {
  return encodeFrame({
    type: 'heartbeat',
    version: PROTOCOL_VERSION,
    jobId,
    role: 'worker',
    status: 'training',
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
}

/** An attacker speaking gossip by hand under its own key, connected to every peer and subscribed. */
async function attacker(name: string, peers: SwarmPeer[], manifest: JobManifest) {
  const key = await generateKeyPair('Ed25519');
  const node = await bareGossipNode(name, key);
  cleanup.push(async () => {
    await node.stop();
  });
  const id = peerIdFromPrivateKey(key).toString();
  for (const p of peers) await node.dial(p.getMultiaddrs()[0]!);
  const hb = topics.heartbeat(manifest.jobId);
  for (const t of [hb, topics.summaries(manifest.jobId), topics.deltas(manifest.jobId)])
    node.services.pubsub.subscribe(t);
  await waitFor('the attacker meshes', () => node.services.pubsub.getSubscribers(hb).length === peers.length);
  return {
    node,
    key,
    id,
    publish: (topic: string, frame: Uint8Array) => node.services.pubsub.publish(topic, frame),
  };
}

describe('admission between real peers', () => {
  it('heartbeats, summaries and deltas of an unadmitted peer id are refused and not counted', async () => {
    const { w0, sha0, manifest } = setup({ mode: 'open', difficultyBits: 4 });
    const peers = await memoryPeers('admission-open', 2);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);
    await waitFor('2 active trainers', () => replicas.every((r) => r.activeContributors() === 2));
    const eve = await attacker('admission-open-eve', peers, manifest);
    const refused = () => peers.map((p) => p.services.swarm.stats().rejected['not-admitted']);

    const forged = forgedStamp(manifest, eve.id);
    await eve.publish(topics.heartbeat(manifest.jobId), heartbeat(manifest.jobId, forged));
    const summary = encodeFrame({
      type: 'anti-entropy-summary',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      round: 5,
      modelSha256: 'e'.repeat(64),
      pastModels: [],
      held: heldRounds(5, []),
      admission: forged,
    });
    await eve.publish(topics.summaries(manifest.jobId), summary);
    const payload = encodeDeltaPayload(encodeDelta(new Float32Array(256).fill(0.01), manifest.compression));
    const author = { sign: deltaSigner(eve.key), admission: forged };
    await eve.publish(
      topics.deltas(manifest.jobId),
      signedDeltaFrame({ jobId: manifest.jobId, base: sha0, codec: 'dense-f32', payload, author }),
    );
    await waitFor('both peers refused all three', () => refused().every((n) => n === 3));
    for (const r of replicas) {
      expect(r.activeContributors()).toBe(2);
      expect(r.isAdmitted(eve.id)).toBe(false);
      expect(r.stats().accepted).toBe(0);
    }

    // The same heartbeat with a stamp Eve paid for counts her: the stamp was the only difference.
    await eve.publish(
      topics.heartbeat(manifest.jobId),
      heartbeat(manifest.jobId, stampFor(manifest, eve.id)),
    );
    await waitFor('Eve counted once admitted', () => replicas.every((r) => r.activeContributors() === 3));
    expect(replicas.every((r) => r.isAdmitted(eve.id))).toBe(true);
  });

  it('an invite job admits the peers the job key issued tickets for, and no one else', async () => {
    const { problem, w0, manifest } = setup({ mode: 'invite' });
    const peers = await memoryPeers('admission-invite', 2);
    const ticketOf = (i: number) => issueTicket(manifest, peers[i]!.peerId.toString(), SYNTHETIC_JOB_SECRET);
    const other = new Uint8Array(32).fill(8);
    const byOtherKey = issueTicket(
      { ...manifest, jobKey: jobKeyOf(other) },
      peers[0]!.peerId.toString(),
      other,
    );
    const join = (admission?: AdmissionStamp) =>
      createSwarmReplica({
        peer: peers[0]!,
        manifest,
        initialWeights: w0,
        ...(admission ? { admission } : {}),
      });
    // No ticket, another peer's ticket, a ticket of another key: this peer cannot even join.
    for (const t of [undefined, ticketOf(1), byOtherKey])
      await expect(join(t)).rejects.toMatchObject({ name: 'NotAdmittedError' });

    const replicas = await Promise.all(
      peers.map((peer, i) =>
        createSwarmReplica({ peer, manifest, initialWeights: w0, admission: ticketOf(i) }),
      ),
    );
    cleanup.push(async () => {
      await Promise.all(replicas.map((r) => r.stop()));
      await Promise.all(peers.map((p) => p.stop()));
    });
    await waitFor('2 active trainers', () => replicas.every((r) => r.activeContributors() === 2));
    const eve = await attacker('admission-invite-eve', peers, manifest);
    await eve.publish(topics.heartbeat(manifest.jobId), heartbeat(manifest.jobId, ticketOf(0)));
    const eveByOtherKey = issueTicket({ ...manifest, jobKey: jobKeyOf(other) }, eve.id, other);
    await eve.publish(topics.heartbeat(manifest.jobId), heartbeat(manifest.jobId, eveByOtherKey));
    await waitFor('both heartbeats refused', () =>
      peers.every((p) => p.services.swarm.stats().rejected['not-admitted'] === 2),
    );
    expect(replicas.every((r) => r.activeContributors() === 2)).toBe(true);
    // The invited peers train together.
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
    await waitFor('both merged 2 rounds', () => replicas.every((r) => r.current().round === 2));
    expect(replicas[0]!.current().sha256).toBe(replicas[1]!.current().sha256);
  });
});

describe('admission in the parts (no libp2p)', () => {
  it('a summary from an unadmitted peer leaves the views unchanged', async () => {
    const [self, eve] = await identities(2);
    const { manifest, state } = smallJob();
    const s = state();
    const hub = new FakeHub();
    const net = hub.join(self!);
    const ae = new AntiEntropy(net, manifest, admissionOf(manifest, self!), {
      rounds: () => s,
      offer: () => ({ action: 'accept', completed: null }),
    });
    ae.start();
    const summary = (admission: AdmissionStamp) => encodeFrame({ ...ae.summary(s), admission });
    const topic = topics.summaries(manifest.jobId);
    expect(net.receive(topic, eve!.id, summary(forgedStamp(manifest, eve!.id)))).toEqual({
      action: 'reject',
      reason: 'not-admitted',
    });
    expect(ae.views.size).toBe(0);
    expect(net.receive(topic, eve!.id, summary(stampFor(manifest, eve!.id)))).toEqual({ action: 'accept' });
    expect([...ae.views.keys()]).toEqual([eve!.id]);
  });

  it('the admitted cache is bounded and forgets the least recently seen peer first', () => {
    const { manifest } = smallJob({ admission: { mode: 'open', difficultyBits: 0 } });
    const peers = new AdmittedPeers(manifest, 3);
    const stamp: AdmissionStamp = { kind: 'pow', nonce: '00'.repeat(8) };
    for (const p of ['a', 'b', 'c']) expect(peers.admits(p, stamp)).toBe(true);
    peers.admits('a', stamp); // a seen again: b is now the oldest
    peers.admits('d', stamp);
    expect(peers.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((p) => peers.isAdmitted(p))).toEqual([true, false, true, true]);
  });
});
