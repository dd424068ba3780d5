import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  sha256Hex,
  tensorFromTyped,
  topics,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { encodeDelta } from '../src/codec.js';
import { REJECT_REASONS } from '../src/delta-verdict.js';
import { ModelLayout } from '../src/model-layout.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { deltaSigner } from '../src/signature.js';
import { encodeDeltaPayload, modelSha256 } from '../src/wire.js';
import {
  FAST,
  bareGossipNode,
  expectIdentical,
  flat,
  joinReplicas,
  memoryPeers,
  signedDeltaFrame,
  trainLoop,
  waitFor,
  authorOf,
  type Author,
} from './harness.js';
import { handAntiEntropy, summaryOf } from './hand-anti-entropy.js';
import { forgedStamp, stampFor } from './identities.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(params: number, overrides: Partial<Parameters<typeof syntheticManifest>[0]> = {}) {
  const problem = syntheticProblem(params, 9);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const sha0 = modelSha256(layout, layout.flatten(w0));
  const manifest = syntheticManifest({
    baseSha256: sha0,
    params,
    round: { quorumFraction: 1, deadlineMs: 4_000, minDeltas: 1, peerTimeoutMs: 1_500 },
    ...overrides,
  });
  return { problem, layout, w0, sha0, manifest };
}

const join = (peers: SwarmPeer[], manifest: unknown, w0: Record<string, Float32Array>) =>
  joinReplicas(peers, manifest, w0, cleanup);

/** A dense-f32 delta frame of `values` against `base`, `patch`ed and `payloadPatch`ed, then signed. */
function deltaFrame(
  jobId: string,
  base: string,
  values: Float32Array,
  author: Author,
  patch: Partial<DeltaAnnouncement> = {},
  payloadPatch?: (p: Uint8Array) => void,
): Uint8Array {
  const payload = encodeDeltaPayload(encodeDelta(values, { codec: 'dense-f32', topkFraction: 1 }));
  payloadPatch?.(payload);
  return signedDeltaFrame({ jobId, base, codec: 'dense-f32', payload, author, patch });
}

describe('faults', () => {
  it('a peer killed mid-round does not stall the others; a late joiner syncs and then contributes', async () => {
    const { problem, w0, manifest } = setup(2048);
    const peers = await memoryPeers('faults', 4);
    const replicas = await join(peers, manifest, w0);
    await waitFor('4 active trainers', () => replicas.every((r) => r.activeContributors() === 4));
    const closedAt: { round: number; accepted: number; at: number }[] = [];
    replicas[0]!.events.on('round:closed', (e) =>
      closedAt.push({ round: e.round, accepted: e.accepted, at: Date.now() }),
    );

    const survivors = Promise.all(replicas.slice(0, 3).map((r, i) => trainLoop(r, problem, i, 3, manifest)));
    // Peer 3 trains rounds 0 and 1, then dies without contributing to round 2.
    await trainLoop(replicas[3]!, problem, 3, 2, manifest);
    const killedAt = Date.now();
    await replicas[3]!.stop();
    await peers[3]!.stop();

    await waitFor('round 2 closes without the dead peer', () => closedAt.some((c) => c.round === 2), 10_000);
    const round2 = closedAt.find((c) => c.round === 2)!;
    expect(round2.accepted).toBe(3);
    // Bounded by the deadline (4 s) or the peer timeout (1.5 s), whichever the rule hits first.
    expect(round2.at - killedAt).toBeLessThan(manifest.round.deadlineMs + 2_000);

    await survivors;
    // A new peer joins by weight sync from whoever is there, then trains with the others.
    const late = await createNodePeer({ ...FAST, listen: ['/memory/faults-late'] });
    for (const p of peers.slice(0, 3)) await late.dial(p.getMultiaddrs()[0]!);
    const lateReplica = await createSwarmReplica({
      peer: late,
      manifest,
      initialWeights: w0,
      syncFromPeers: true,
    });
    cleanup.push(async () => {
      await lateReplica.stop();
      await late.stop();
    });
    const synced = lateReplica.current();
    expect(synced.round).toBe(3);
    expect(synced.sha256).toBe(replicas[0]!.current().sha256);
    const lateId = late.peerId.toString();
    let lateMerged = false;
    replicas[0]!.events.on('round:closed', (e) => (lateMerged ||= e.peers.includes(lateId)));
    await waitFor('the others count the newcomer', () =>
      replicas.slice(0, 3).every((r) => r.activeContributors() === 4),
    );
    await Promise.all([
      ...replicas.slice(0, 3).map((r, i) => trainLoop(r, problem, i, 6, manifest)),
      trainLoop(lateReplica, problem, 4, 6, manifest),
    ]);
    const all = [...replicas.slice(0, 3), lateReplica];
    await waitFor('quiescence', () =>
      all.every((r) => r.current().sha256 === all[0]!.current().sha256 && r.current().round === 6),
    );
    expectIdentical(all);
    expect(lateMerged).toBe(true);
  });

  it('rejects and counts every invalid input class; honest replicas stay identical', async () => {
    const { problem, layout, w0, sha0, manifest } = setup(1024, {
      codec: 'dense-f32',
      aggregation: { rule: 'trimmed-mean', normBound: 100, trimFraction: 0.2 },
    });
    const peers = await memoryPeers('attack', 3);
    const replicas = await join(peers, manifest, w0);
    // The attacker signs its deltas with its own key, so each forgery below fails for its own reason.
    const attackerKey = await generateKeyPair('Ed25519');
    const author = authorOf(attackerKey, manifest);
    const signInAnotherName = { ...author, sign: deltaSigner(await generateKeyPair('Ed25519')) };
    const attacker = await createNodePeer({
      ...FAST,
      listen: ['/memory/attack-evil'],
      identity: { kind: 'bytes', privateKey: privateKeyToProtobuf(attackerKey) },
    });
    const unsigned = await bareGossipNode('attack-unsigned', undefined, 'StrictNoSign');
    cleanup.push(async () => {
      await attacker.stop();
      await unsigned.stop();
    });
    for (const p of peers) {
      await attacker.dial(p.getMultiaddrs()[0]!);
      await unsigned.dial(p.getMultiaddrs()[0]!);
    }
    const topic = topics.deltas(manifest.jobId);
    await waitFor('attackers see the topic', () =>
      [attacker.services.pubsub, unsigned.services.pubsub].every(
        (ps) => ps.getSubscribers(topic).length === 3,
      ),
    );

    const small = new Float32Array(layout.size).fill(0.001);
    const delta = (
      values: Float32Array,
      patch: Partial<DeltaAnnouncement> = {},
      payloadPatch?: (p: Uint8Array) => void,
      signer: Author = author,
    ) => deltaFrame(manifest.jobId, sha0, values, signer, patch, payloadPatch);
    const newer = delta(small);
    newer[4] = PROTOCOL_VERSION + 1; // protocol version byte
    const nanPayload = (p: Uint8Array) =>
      new DataView(p.buffer, p.byteOffset).setFloat32(p.length - 4, NaN, true);
    const nanFrame = (() => {
      const payload = encodeDeltaPayload(encodeDelta(small, { codec: 'dense-f32', topkFraction: 1 }));
      nanPayload(payload);
      return delta(small, { payloadSha256: sha256Hex(payload) }, nanPayload);
    })();
    const oversize: Omit<DeltaAnnouncement, 'authorSignature'> = {
      type: 'delta-announce',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      round: 0,
      baseRound: 0,
      baseModelSha256: sha0,
      stats: { tokens: 1, steps: 1, meanLoss: 0 },
      codec: 'dense-f32',
      payloadBytes: 1_100_000,
      payloadSha256: sha0,
      partDigests: [sha0],
      part: { index: 0, count: 1 },
      admission: author.admission,
    };
    const attacks: Uint8Array[] = [
      new Uint8Array(100).fill(1), // malformed
      delta(small, { jobId: 'another-job' }), // wrong-job
      newer, // newer-version (ignored)
      encodeFrame(
        { ...oversize, authorSignature: author.sign(oversize) },
        { part: tensorFromTyped('u8', [1_100_000], new Uint8Array(1_100_000)) },
      ), // oversize
      delta(small, {}, undefined, signInAnotherName), // bad-signature: the author did not sign it
      delta(small, {}, undefined, {
        ...author,
        admission: forgedStamp(manifest, attacker.peerId.toString()),
      }), // not-admitted
      delta(small, { round: 7 }), // wrong-round
      delta(small, { baseModelSha256: 'e'.repeat(64) }), // unknown-base
      nanFrame, // non-finite
      delta(new Float32Array(layout.size).fill(50)), // norm-bound
      delta(small, { payloadSha256: 'd'.repeat(64) }), // bad-digest
      delta(small, { partDigests: ['d'.repeat(64)] }), // bad-part-digest
      delta(small, { codec: 'topk-int8' }), // wrong-codec
      delta(small), // a valid delta from the attacker, accepted (a second one would ban it: equivocation-swarm.test)
      delta(small, { round: 1, baseModelSha256: 'c'.repeat(64) }), // round 1, held (its base is checked at close)
      delta(new Float32Array(layout.size).fill(0.003)), // round 0 again after round 1: replay
    ];
    for (const frame of attacks) await attacker.services.pubsub.publish(topic, frame);
    await unsigned.services.pubsub.publish(topic, delta(small)); // bad-signature

    // Equivocation bans its author, whose later frames are then all `banned`: equivocation-swarm.test.ts.
    const expected = REJECT_REASONS.filter((r) => !['unknown-base', 'equivocation', 'banned'].includes(r));
    await waitFor('every honest peer counted every reason', () =>
      peers.every((p) => {
        const s = p.services.swarm.stats();
        return (
          expected.every((r) => s.rejected[r] >= 1) &&
          s.ignored['newer-version'] >= 1 &&
          s.rejected['unknown-base'] >= 1
        );
      }),
    );
    // Honest peers train two rounds; the held round-1 delta with a wrong base is dropped at the close.
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
    await waitFor('quiescence', () =>
      replicas.every((r) => r.current().round === 2 && r.current().sha256 === replicas[0]!.current().sha256),
    );
    expectIdentical(replicas);
    for (const p of peers)
      expect(p.services.swarm.stats().rejected['unknown-base']).toBeGreaterThanOrEqual(2);
    expect(problem.loss(flat(replicas[0]!.current().weights, problem))).toBeLessThan(
      problem.loss(new Float32Array(layout.size)),
    );
  });

  it("refuses a delta a pull responder forged in an honest peer's name, and still takes the real one", async () => {
    const { problem, w0, sha0, manifest, layout } = setup(1024, { codec: 'dense-f32' });
    const peers = await memoryPeers('forge', 2);
    const replicas = await join(peers, manifest, w0);
    const [a, b] = peers as [SwarmPeer, SwarmPeer];
    // A peer that answers anti-entropy pulls with a delta it made itself but attributes to b.
    const forgerKey = await generateKeyPair('Ed25519');
    const forger = await bareGossipNode('forge-forger', forgerKey);
    cleanup.push(async () => {
      await forger.stop();
    });
    // In b's name with a stamp that admits b (stamps are public: b's heartbeats carry its own), so only
    // the author signature gives the forgery away.
    const forged = deltaFrame(manifest.jobId, sha0, new Float32Array(layout.size).fill(0.01), {
      sign: deltaSigner(forgerKey),
      admission: stampFor(manifest, b.peerId.toString()),
    });
    const { message } = decodeFrame(forged, { maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes });
    if (message.type !== 'delta-announce') throw new Error('the forged frame is not a delta');
    let pulls = 0;
    const ref = { round: 0, peer: b.peerId.toString(), payloadSha256: message.payloadSha256 };
    await handAntiEntropy(forger, manifest.jobId, {
      refs: [ref],
      onPull: async (_request, lp, stream) => {
        pulls++;
        await lp.write(forged);
        await stream.close();
      },
    });
    for (const p of peers) await forger.dial(p.getMultiaddrs()[0]!);
    const summaries = topics.summaries(manifest.jobId);
    await waitFor(
      'the forger sees both peers',
      () => forger.services.pubsub.getSubscribers(summaries).length === 2,
    );
    const admission = authorOf(forgerKey, manifest).admission;
    await forger.services.pubsub.publish(
      summaries,
      summaryOf({ jobId: manifest.jobId, round: 0, modelSha256: sha0, admission }, [ref]),
    );
    await waitFor(
      'a pulled and refused the forgery',
      () => a.services.swarm.stats().rejected['bad-signature'] >= 1,
    );
    expect(pulls).toBeGreaterThanOrEqual(1);
    // b's own delta for round 0 is not mistaken for an equivocation: both train on and agree.
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 2, manifest)));
    await waitFor('quiescence', () =>
      replicas.every((r) => r.current().round === 2 && r.current().sha256 === replicas[0]!.current().sha256),
    );
    expectIdentical(replicas);
    expect(a.services.swarm.stats().rejected.equivocation).toBe(0);
  });

  // A peer slower than a round (a phone tab beside Node workers): its local steps always end after the
  // round they started from closed by deadline without it.
  async function slowPeerRounds(prefix: string, maxStaleness: number) {
    const ROUNDS = 8;
    const TRAIN_MS = 100;
    const SLOW_MS = 1_000; // > TRAIN_MS + deadline: always too late for its own round
    const { problem, w0, manifest } = setup(1024, {
      codec: 'dense-f32',
      round: { quorumFraction: 1, deadlineMs: 600, minDeltas: 1, peerTimeoutMs: 5_000, maxStaleness },
    });
    const peers = await memoryPeers(prefix, 3);
    const replicas = await join(peers, manifest, w0);
    const slow = peers[2]!.peerId.toString();
    // Everyone counts everyone as active from the start (the closing rule waits for all three).
    await waitFor('heartbeats', () => replicas.every((r) => r.activeContributors() === 3));
    const withSlow: { round: number; stale: number }[] = [];
    replicas[0]!.events.on('round:closed', (e) => {
      if (e.peers.includes(slow)) withSlow.push({ round: e.round, stale: e.stale });
    });
    await Promise.all(
      replicas.map((r, i) =>
        trainLoop(r, problem, i, ROUNDS, manifest, undefined, () => (i === 2 ? SLOW_MS : TRAIN_MS)),
      ),
    );
    // A replica split off by a deadline race comes back by resync, which on a loaded machine takes a while.
    await waitFor(
      'quiescence',
      () =>
        replicas.every(
          (r) => r.current().round === ROUNDS && r.current().sha256 === replicas[0]!.current().sha256,
        ),
      40_000,
    );
    expectIdentical(replicas);
    return { rounds: ROUNDS, withSlow };
  }

  it('a peer slower than a round still contributes: its delta joins the next round (maxStaleness 1)', async () => {
    const { rounds, withSlow } = await slowPeerRounds('slow-1', 1);
    // About every second round merges its delta (from the model one round before), never round 0.
    expect(withSlow.length).toBeGreaterThanOrEqual(rounds / 2 - 1);
    expect(withSlow.map((r) => r.round)).not.toContain(0);
    for (const r of withSlow) expect(r.stale).toBe(1);
  }, 60_000);

  it('with maxStaleness 0 the same slow peer is left out of (almost) every round', async () => {
    const { withSlow } = await slowPeerRounds('slow-0', 0);
    expect(withSlow.length).toBeLessThanOrEqual(1);
  }, 60_000);
});
