/**
 * Resource bounds between real peers (memory transport): an attacker speaks the protocol by hand from bare
 * libp2p nodes, and each test asserts the bound its flood runs into (docs/swarm-protocol.md § Resource
 * bounds).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import {
  PROTOCOL_IDS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  partRange,
  sha256Hex,
  tensorFromTyped,
  topics,
  type AdmissionStamp,
  type DeltaAnnouncement,
  type Heartbeat,
  type JobManifest,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import type { SwarmPeer } from '../src/peer.js';
import type { SwarmReplica } from '../src/replica.js';
import { deltaSigner, type DeltaSigner, type UnsignedDelta } from '../src/signature.js';
import { modelSha256 } from '../src/wire.js';
import { FAST, bareGossipNode, joinReplicas, memoryPeers, trainLoop, waitFor } from './harness.js';
import { handAntiEntropy, summaryOf } from './hand-anti-entropy.js';
import { stampFor } from './identities.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(params: number, round: Partial<JobManifest['round']> = {}) {
  const problem = syntheticProblem(params, 5);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const sha0 = modelSha256(layout, layout.flatten(w0));
  const manifest = syntheticManifest({ baseSha256: sha0, params, codec: 'dense-f32', round });
  return { problem, w0, sha0, manifest };
}

/** Bare gossip nodes, one per fresh key, each connected to every victim and seeing `topic` on all. */
async function attackers(name: string, n: number, victims: SwarmPeer[], topic: string) {
  const keys: PrivateKey[] = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')));
  const nodes = await Promise.all(keys.map((k, i) => bareGossipNode(`${name}-${i}`, k)));
  cleanup.push(async () => {
    await Promise.all(nodes.map((x) => x.stop()));
  });
  for (const node of nodes) for (const v of victims) await node.dial(v.getMultiaddrs()[0]!);
  await waitFor(`${name} sees ${topic}`, () =>
    nodes.every((x) => x.services.pubsub.getSubscribers(topic).length === victims.length),
  );
  return nodes.map((node, i) => ({ node, id: node.peerId.toString(), sign: deltaSigner(keys[i]!) }));
}

/** Part `index` of a signed `count`-part delta for `round` whose payload is `payload` (never decodable). */
function partFrame(
  o: { manifest: JobManifest; base: string; sign: DeltaSigner; admission: AdmissionStamp },
  round: number,
  payload: Uint8Array,
  count: number,
  index: number,
): Uint8Array {
  const slices = Array.from({ length: count }, (_, i) => {
    const { start, end } = partRange(payload.length, count, i);
    return payload.subarray(start, end);
  });
  const unsigned: UnsignedDelta = {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: o.manifest.jobId,
    round,
    baseRound: round,
    baseModelSha256: o.base,
    stats: { tokens: 1, steps: 1, meanLoss: 0 },
    codec: o.manifest.compression.codec,
    payloadBytes: payload.length,
    payloadSha256: sha256Hex(payload),
    partDigests: slices.map((s) => sha256Hex(s)),
  };
  const header: DeltaAnnouncement = {
    ...unsigned,
    admission: o.admission,
    authorSignature: o.sign(unsigned),
    part: { index, count },
  };
  const part = slices[index]!;
  return encodeFrame(header, { part: tensorFromTyped('u8', [part.length], part) });
}

async function victims(
  prefix: string,
  n: number,
  manifest: JobManifest,
  w0: Record<string, Float32Array>,
  swarm = {},
) {
  const peers = await memoryPeers(prefix, n, { swarm: { ...FAST.swarm, ...swarm } });
  const replicas = await joinReplicas(peers, manifest, w0, cleanup);
  return { peers, replicas };
}

describe('resource bounds between real peers', () => {
  it('a Sybil flood of first parts holds at most maxPartialBytes, counted in memoryBytes; honest rounds go on', async () => {
    const params = 128 * 1024; // a dense payload of 512 KiB: part 0 of 2 is 256 KiB
    const { w0, sha0, manifest } = setup(params);
    const cap = 1 << 20; // maxPartialBytes' smallest setting, and above one largest delta (576 KiB)
    const { peers, replicas } = await victims('rb-parts', 1, manifest, w0, { maxPartialBytes: cap });
    const topic = topics.deltas(manifest.jobId);
    const flood = await attackers('rb-sybil', 8, peers, topic);
    // A watcher reads the victim's heartbeats: what it says it holds.
    const watcher = flood[0]!.node;
    const memory: number[] = [];
    watcher.services.pubsub.subscribe(topics.heartbeat(manifest.jobId));
    watcher.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic !== topics.heartbeat(manifest.jobId)) return;
      const hb = decodeFrame(e.detail.data, { maxBytes: 1 << 20 }).message as Heartbeat;
      memory.push(hb.memoryBytes);
    });
    const payload = new Uint8Array(4 * params).map((_, i) => i % 251);
    // Every key: part 0 of 2 for round 0 and round 1 — 16 deltas that never complete, 4 MiB in all.
    for (const [i, a] of flood.entries())
      for (const round of [0, 1]) {
        const p = Uint8Array.from(payload, (x) => x ^ (i + 1));
        await a.node.services.pubsub.publish(
          topic,
          partFrame(
            { manifest, base: sha0, sign: a.sign, admission: stampFor(manifest, a.id) },
            round,
            p,
            2,
            0,
          ),
        );
      }
    const evicted = 16 - Math.floor(cap / (2 * params)); // 4 partials of 256 KiB fit
    await waitFor('the flood is judged', () => replicas[0]!.stats().ignored.evicted >= evicted);
    // Every part was checked against its signed digest and taken; what is held stays under the cap.
    expect(replicas[0]!.stats().ignored.evicted).toBe(evicted);
    // The heartbeat says so: model, momentum, residual and the base replays start from (4 bytes per
    // parameter each; the log is empty at round 0) plus the partials.
    const model = 4 * 4 * params;
    const seen = memory.length;
    await waitFor('a heartbeat after the flood', () => memory.length > seen + 1);
    expect(memory.at(-1)! - model).toBe(Math.floor(cap / (2 * params)) * 2 * params);
    // The honest peer still trains: its own delta closes the round, and the stalled partials go with it.
    const { problem } = setup(params);
    await trainLoop(replicas[0]!, problem, 0, 2, manifest);
    // Past its rounds nothing of the flood is left: the model of round 1 (kept for maxStaleness 1) and the
    // log of the two rounds (one dense delta of 4·P bytes each, plus its frame and record) are.
    const log = (bytes: number) => bytes - (model + 4 * params) - 2 * 4 * params;
    await waitFor(
      'a heartbeat without the flood',
      () => log(memory.at(-1)!) >= 0 && log(memory.at(-1)!) < 64 << 10,
    );
  }, 60_000);

  it('one fake training heartbeat holds only its grace round open, not every round', async () => {
    const { problem, w0, manifest } = setup(2048, { deadlineMs: 3_000, peerTimeoutMs: 2_000 });
    const { peers, replicas } = await victims('rb-fake', 2, manifest, w0, { liveRounds: 1, graceRounds: 1 });
    const hbTopic = topics.heartbeat(manifest.jobId);
    const [fake] = await attackers('rb-fake-hb', 1, peers, hbTopic);
    const heartbeat: Heartbeat = {
      type: 'heartbeat',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
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
      admission: stampFor(manifest, fake!.id),
    };
    const beat = setInterval(
      () => void fake!.node.services.pubsub.publish(hbTopic, encodeFrame(heartbeat)),
      100,
    );
    cleanup.push(async () => clearInterval(beat));
    // A newcomer is counted at first (it has not had the time to contribute yet).
    await waitFor('the fake trainer is counted', () => replicas.every((r) => r.activeContributors() === 3));
    const durations: number[] = [];
    replicas[0]!.events.on('round:closed', (e) => durations.push(e.durationMs));
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 4, manifest)));
    // Round 0 waited out its deadline for the fake peer; after its grace the others close at quorum.
    expect(durations[0]).toBeGreaterThanOrEqual(manifest.round.deadlineMs - 100);
    for (const d of durations.slice(1)) expect(d).toBeLessThan(manifest.round.deadlineMs / 2);
    expect(replicas.every((r) => r.activeContributors() === 2)).toBe(true);
  }, 60_000);

  it('a heartbeat flood from fresh identities is forgotten beyond maxPeersTracked', async () => {
    const { w0, manifest } = setup(2048);
    const { peers, replicas } = await victims('rb-table', 1, manifest, w0, { maxPeersTracked: 16 });
    const hbTopic = topics.heartbeat(manifest.jobId);
    const flood = await attackers('rb-table-hb', 20, peers, hbTopic);
    const heartbeat = (round: number, admission: AdmissionStamp): Heartbeat => ({
      type: 'heartbeat',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      role: 'worker',
      status: 'training',
      round,
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
    let heard = 0;
    peers[0]!.services.swarm.events.on('heartbeat', () => heard++);
    for (const a of flood)
      await a.node.services.pubsub.publish(hbTopic, encodeFrame(heartbeat(0, stampFor(manifest, a.id))));
    await waitFor('every heartbeat heard', () => heard >= flood.length);
    // 20 fresh trainers within their grace, but only the 16 latest are remembered (and this peer).
    expect(replicas[0]!.activeContributors()).toBe(16 + 1);
  }, 60_000);

  it('pulls: answers are deduplicated and capped, pulls per peer limited; a puller refuses oversize frames', async () => {
    const params = 128 * 1024; // dense deltas of 512 KiB: two exceed the 1 MiB answer cap
    const { w0, manifest } = setup(params, { deadlineMs: 30_000 });
    const limits = { maxPullsPerPeer: 1, maxPullAnswerBytes: 1 << 20, streamTimeoutMs: 20_000 };
    const { peers, replicas } = await victims('rb-pull', 3, manifest, w0, limits);
    const [victim, ...honest] = replicas as [SwarmReplica, ...SwarmReplica[]];
    await waitFor('3 trainers', () => replicas.every((r) => r.activeContributors() === 3));
    // The two honest peers contribute; the victim does not yet, so round 0 stays open holding both.
    const refs: { round: number; peer: string; payloadSha256: string }[] = [];
    for (const r of honest) {
      const base = r.current();
      const local = Object.fromEntries(
        Object.entries(base.weights).map(([k, w]) => [k, w.map((x) => x - 0.001)]),
      );
      const sent = await r.contribute(base, local, { tokens: 1, steps: 1, meanLoss: 0 });
      refs.push({
        round: 0,
        peer: peers[replicas.indexOf(r)]!.peerId.toString(),
        payloadSha256: sent.payloadSha256,
      });
    }
    await waitFor('the victim holds both', () => victim.stats().accepted === 2);
    const [a] = await attackers('rb-puller', 1, [peers[0]!], topics.summaries(manifest.jobId));
    const pullFrame = (asked: typeof refs) =>
      encodeFrame({ type: 'delta-pull', version: PROTOCOL_VERSION, jobId: manifest.jobId, refs: asked });
    /** Opens a pull stream to the victim; `ask` sends the request and reads the answer's frame sizes. */
    const open = async () => {
      const stream = await a!.node.dialProtocol(peers[0]!.getMultiaddrs()[0]!, PROTOCOL_IDS.antiEntropy);
      const lp = lpStream(stream, { maxDataLength: 64 << 20, maxBufferSize: 64 << 20 });
      const ask = async (asked: typeof refs) => {
        // A busy victim may have hung up already: then nothing is answered.
        await lp.write(pullFrame(asked)).catch(() => {});
        const sizes: number[] = [];
        for (;;) {
          const frame = await lp.read().catch(() => null);
          if (!frame) return sizes;
          sizes.push(frame.byteLength);
        }
      };
      return { stream, ask };
    };
    // One ref asked 512 times is answered once (not 512 × 512 KiB).
    const first = await open();
    expect(await first.ask(Array.from({ length: 512 }, () => refs[0]!))).toHaveLength(1);
    // Both asked: the second would take the answer past 1 MiB, so it is left out.
    const both = await (await open()).ask([refs[0]!, refs[1]!]);
    expect(both).toHaveLength(1);
    expect(both[0]!).toBeGreaterThan(4 * params);
    // One pull at a time per peer: while one waits for its request, another is hung up on unanswered.
    // (The victim serves a stream once it has negotiated it: a later stream may race the first to it, so
    // try a few until one finds the slot taken.)
    const held = await open();
    let refused = 0;
    for (let i = 0; i < 10 && refused === 0; i++)
      if ((await (await open()).ask([refs[0]!])).length === 0) refused++;
    expect(refused).toBe(1);
    expect(victim.stats().ignored.busy).toBe(1);
    expect(await held.ask([refs[0]!])).toHaveLength(1);

    // The victim as puller: a ref list names a delta it lacks beside ones it holds.
    const lacking = { round: 0, peer: a!.id, payloadSha256: 'ab'.repeat(32) };
    const requests: number[] = [];
    let aborted: () => void = () => {};
    const reset = new Promise<void>((r) => (aborted = r));
    await handAntiEntropy(a!.node, manifest.jobId, {
      refs: [lacking, ...refs],
      onPull: async (request, _lp, stream) => {
        requests.push(request.refs.length);
        stream.addEventListener('close', () => aborted());
        // A length prefix of 64 MiB (larger than any legal delta frame of this job), then a trickle.
        stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x20, 1, 2, 3));
      },
    });
    const summary = summaryOf(
      {
        jobId: manifest.jobId,
        round: 0,
        modelSha256: victim.current().sha256,
        admission: stampFor(manifest, a!.id),
      },
      [lacking, ...refs],
    );
    const t0 = Date.now();
    await a!.node.services.pubsub.publish(topics.summaries(manifest.jobId), summary);
    await reset;
    // Asked once, only for what it lacks; hung up on the length prefix, not after the 20 s stream timeout.
    expect(requests).toEqual([1]);
    expect(Date.now() - t0).toBeLessThan(limits.streamTimeoutMs / 2);
  }, 60_000);
});
