/**
 * Summaries by digest between real peers (memory transport): an attacker speaks the anti-entropy protocol
 * by hand from a bare libp2p node, and each test asserts the bound its lie runs into
 * (docs/swarm-protocol.md §7 and §6c).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { lpStream } from '@libp2p/utils';
import {
  PROTOCOL_IDS,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  heldRounds,
  topics,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import type { SwarmPeer } from '../src/peer.js';
import { FAST, bareGossipNode, contribute, joinReplicas, memoryPeers, waitFor } from './harness.js';
import { handAntiEntropy } from './hand-anti-entropy.js';
import { stampFor } from './identities.js';
import { modelSha256 } from '../src/wire.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const PERIOD_MS = FAST.swarm!.antiEntropyIntervalMs!;

function setup() {
  const problem = syntheticProblem(2048, 8);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: 2048,
    round: { quorumFraction: 1, deadlineMs: 30_000, minDeltas: 1, peerTimeoutMs: 5_000 },
  });
  return { problem, w0, manifest };
}

/** A bare node on a fresh key, connected to `victim` and seeing its summaries topic. */
async function attacker(name: string, victim: SwarmPeer, topic: string) {
  const key = await generateKeyPair('Ed25519');
  const node = await bareGossipNode(name, key);
  cleanup.push(async () => {
    await node.stop();
  });
  await node.dial(victim.getMultiaddrs()[0]!);
  await waitFor(`${name} sees ${topic}`, () => node.services.pubsub.getSubscribers(topic).length === 1);
  return { node, id: node.peerId.toString() };
}

describe('summaries by digest between real peers', () => {
  it('a digest that never matches costs one ref list per rest, and honest refs still get pulled', async () => {
    const { problem, w0, manifest } = setup();
    const topic = topics.summaries(manifest.jobId);
    const honest = await memoryPeers('rl-honest', 2);
    const [a] = await joinReplicas(honest, manifest, w0, cleanup);
    await waitFor('a and b see each other', () => a!.activeContributors() === 2);
    const sent = await contribute(a!, problem, 0);
    // The victim comes later: it missed a's delta on gossip, and must pull it.
    const [victimPeer] = await memoryPeers('rl-victim', 1);
    const [victim] = await joinReplicas([victimPeer!], manifest, w0, cleanup);
    const liar = await attacker('rl-liar', victimPeer!, topic);
    // The liar claims the most refs a round can hold, under a fresh digest each time; asked, it lists none.
    let asked = 0;
    await handAntiEntropy(liar.node, manifest.jobId, {
      onRefs: async (_request, lp, stream) => {
        asked++;
        await lp.write(
          encodeFrame({ type: 'delta-refs', version: PROTOCOL_VERSION, jobId: manifest.jobId, refs: [] }),
        );
        await stream.close();
      },
    });
    const lie = (i: number) =>
      encodeFrame({
        type: 'anti-entropy-summary',
        version: PROTOCOL_VERSION,
        jobId: manifest.jobId,
        round: 0,
        modelSha256: victim!.current().sha256,
        pastModels: [],
        held: [{ count: 512, digest: i.toString(16).padStart(64, '0') }, heldRounds(1, [])[1]],
        admission: stampFor(manifest, liar.id),
      });
    let lies = 0;
    const flood = setInterval(
      () => void liar.node.services.pubsub.publish(topic, lie(++lies)),
      PERIOD_MS / 2,
    );
    cleanup.push(async () => clearInterval(flood));
    const t0 = Date.now();
    await waitFor('the liar was asked', () => asked >= 1);
    const pulled: string[] = [];
    victim!.events.on('delta:accepted', (e) => e.via === 'pull' && pulled.push(e.payloadSha256));
    await victimPeer!.dial(honest[0]!.getMultiaddrs()[0]!);
    await victimPeer!.dial(honest[1]!.getMultiaddrs()[0]!);
    await waitFor('the victim pulled the delta it missed', () => pulled.includes(sent.payloadSha256));
    // Keep lying for a few more rests.
    await new Promise((r) => setTimeout(r, 10 * PERIOD_MS));
    const periods = (Date.now() - t0) / PERIOD_MS;
    expect(lies).toBeGreaterThan(periods); // two lies a period
    // Asked once, then rested 4 periods each time: at most one ref list per 4 periods (and one to start).
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(asked).toBeLessThanOrEqual(Math.floor(periods / 4) + 2);
  }, 60_000);

  it('a ref-list request flood is answered maxRefListsPerPeer times a period, the rest hung up on', async () => {
    const { problem, w0, manifest } = setup();
    // A long period, so that the whole flood falls in one.
    const swarm = {
      ...FAST.swarm,
      antiEntropyIntervalMs: 20_000,
      maxRefListsPerPeer: 2,
      maxRefListsServed: 3,
    };
    const peers = await memoryPeers('rl-served', 1, { swarm });
    const [victim] = await joinReplicas(peers, manifest, w0, cleanup);
    await contribute(victim!, problem, 0); // a lone trainer: its own delta closes round 0
    await waitFor('round 0 closed', () => victim!.current().round === 1);
    const topic = topics.summaries(manifest.jobId);
    const flooders = [
      await attacker('rl-flood-0', peers[0]!, topic),
      await attacker('rl-flood-1', peers[0]!, topic),
    ];
    const request = encodeFrame({
      type: 'delta-refs-request',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      rounds: [1, 2],
    });
    /** One request from `node`: the answer's type, or null when hung up on. */
    const ask = async (node: (typeof flooders)[number]['node']) => {
      const stream = await node.dialProtocol(peers[0]!.getMultiaddrs()[0]!, PROTOCOL_IDS.antiEntropy);
      const lp = lpStream(stream);
      await lp.write(request).catch(() => {});
      const answer = await lp.read().catch(() => null);
      return answer && decodeFrame(answer.subarray(), { maxBytes: 1 << 20 }).message.type;
    };
    const answered: (string | null)[][] = [[], []];
    for (let i = 0; i < 20; i++) answered[0]!.push(await ask(flooders[0]!.node));
    for (let i = 0; i < 5; i++) answered[1]!.push(await ask(flooders[1]!.node));
    // Two for the first flooder, then the period's third and last for the second; everything else refused.
    expect(answered[0]!.filter((t) => t === 'delta-refs')).toHaveLength(2);
    expect(answered[1]!.filter((t) => t === 'delta-refs')).toHaveLength(1);
    expect(answered.flat().filter((t) => t === null)).toHaveLength(22);
    expect(victim!.stats().ignored.busy).toBe(22);
  }, 60_000);
});
