/**
 * The coordinator forwards the job's gossip only after judging it as a passive observer (observer.ts in
 * @slimswarm/swarm): two peers connected to each other only through it get a valid delta, never a
 * delta whose author signature is not its sender's, nor one whose admission stamp is not its sender's.
 * The job is invite-only: the peers are admitted by tickets the coordinator hands out for invite codes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PROTOCOL_VERSION,
  encodeFrame,
  encodeSafetensors,
  sha256Hex,
  tensorFromTyped,
  topics,
  TicketGrant,
  type AdmissionStamp,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { createNodePeer, encodeDelta, type SwarmPeer } from '@slimswarm/swarm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type Coordinator } from '../src/coordinator.js';
import { CoordinatorStats } from '../src/events.js';
import { parseCoordinatorArgs } from '../src/options.js';

const FAST = { gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 } };

describe('what the coordinator forwards', () => {
  let dir: string;
  let coordinator: Coordinator;
  let a: SwarmPeer;
  let b: SwarmPeer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-forward-'));
    await writeFile(join(dir, 'invites'), 'invite-a\ninvite-b\n');
    coordinator = await startCoordinator({
      ...parseCoordinatorArgs([
        ...['--port', '0', '--listen', '/memory/coordinator-forwarding'],
        ...['--invite-codes', join(dir, 'invites')],
      ]),
      webDir: dir,
      dashboardDir: dir,
    });
    [a, b] = await Promise.all([
      createNodePeer({ ...FAST, listen: ['/memory/forwarding-a'] }),
      createNodePeer({ ...FAST, listen: ['/memory/forwarding-b'] }),
    ]);
    for (const p of [a, b]) await p.dial(coordinator.peer.getMultiaddrs()[0]!);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await coordinator?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to forward a delta with a forged author signature, and forwards a valid one', async () => {
    const manifest = coordinator.manifest;
    const topic = topics.deltas(manifest.jobId);
    const received: Uint8Array[] = [];
    b.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === topic) received.push(e.detail.data);
    });
    const coordinatorId = coordinator.peer.peerId.toString();
    // Gossipsub forwards to its mesh: wait until b and the coordinator have grafted each other.
    const meshed = new Promise<void>((resolve) =>
      b.services.pubsub.addEventListener('gossipsub:graft', (e) => {
        if (e.detail.topic === topic && e.detail.peerId.toString() === coordinatorId) resolve();
      }),
    );
    b.services.pubsub.subscribe(topic);
    await meshed;
    await waitUntil(() => a.services.pubsub.getSubscribers(topic).length === 1);

    // A small top-k delta of the job's shape; its header is signed by a (valid) or by b in a's name.
    const ticket = async (peer: SwarmPeer, invite: string): Promise<AdmissionStamp> => {
      const body = JSON.stringify({ peerId: peer.peerId.toString(), invite });
      const res = await fetch(new URL('/api/ticket', coordinator.http.url), { method: 'POST', body });
      return TicketGrant.parse(await res.json()).ticket;
    };
    const [ticketA, ticketB] = [await ticket(a, 'invite-a'), await ticket(b, 'invite-b')];
    const P = manifest.baseCheckpoint.params;
    const values = new Float32Array(P).map((_, i) => (i % 97 === 0 ? 0.001 : 0));
    const payload = encodeSafetensors(encodeDelta(values, manifest.compression));
    const unsigned: Omit<DeltaAnnouncement, 'authorSignature' | 'admission'> = {
      type: 'delta-announce',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      round: 0,
      baseRound: 0,
      baseModelSha256: manifest.baseCheckpoint.sha256,
      stats: { tokens: 1, steps: 1, meanLoss: 0 },
      codec: manifest.compression.codec,
      payloadBytes: payload.length,
      payloadSha256: sha256Hex(payload),
      partDigests: [sha256Hex(payload)],
      part: { index: 0, count: 1 },
    };
    const frame = (authorSignature: string, admission: AdmissionStamp = ticketA) =>
      encodeFrame(
        { ...unsigned, authorSignature, admission },
        { part: tensorFromTyped('u8', [payload.length], payload) },
      );
    const forged = frame(b.services.swarm.signDelta(unsigned));
    // a's own delta, but with b's ticket: tickets are bound to the peer id.
    const unadmitted = frame(a.services.swarm.signDelta(unsigned), ticketB);
    const valid = frame(a.services.swarm.signDelta(unsigned));

    await a.services.pubsub.publish(topic, forged);
    await a.services.pubsub.publish(topic, unadmitted);
    await a.services.pubsub.publish(topic, valid);
    await waitUntil(() => received.length >= 1);
    const rejected = () => coordinator.peer.services.swarm.stats().rejected;
    await waitUntil(() => rejected()['bad-signature'] >= 1 && rejected()['not-admitted'] >= 1);

    expect(received.map((d) => Buffer.from(d).equals(Buffer.from(valid)))).toEqual([true]);
    expect(rejected()['bad-signature']).toBe(1);
    expect(rejected()['not-admitted']).toBe(1);
    const stats = CoordinatorStats.parse(
      await (await fetch(new URL('/api/stats', coordinator.http.url))).json(),
    );
    expect(stats.relayed.deltas).toBe(1);
    // They only ever met through the coordinator.
    expect(a.getConnections(b.peerId)).toHaveLength(0);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
