/**
 * Gossipsub scoring of the job topics, with real gossipsub on the memory transport: a peer that floods
 * Rejects is graylisted and disconnected by the honest peers (and hung up on when it comes back), while
 * honest peers that join, leave and go quiet keep scores ≥ 0 through a multi-round run.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { GossipSub } from '@libp2p/gossipsub';
import { topics } from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { GraylistGuard, SCORE_THRESHOLDS, scoreTopic, scoringOf } from '../src/gossip-scoring.js';
import { ModelLayout } from '../src/model-layout.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { FAST, bareGossipNode, joinReplicas, memoryPeers, trainLoop, waitFor } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(params: number, round: Partial<Parameters<typeof syntheticManifest>[0]['round']> = {}) {
  const problem = syntheticProblem(params, 9);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const sha0 = modelSha256(layout, layout.flatten(w0));
  const manifest = syntheticManifest({
    baseSha256: sha0,
    params,
    codec: 'dense-f32',
    round: { quorumFraction: 1, deadlineMs: 4_000, minDeltas: 1, peerTimeoutMs: 1_500, ...round },
  });
  return { problem, w0, manifest };
}

const scoreOf = (peer: SwarmPeer, other: string) => scoringOf(peer.services.pubsub).getScore(other);

describe('gossip scoring', () => {
  it('scores a topic once the service subscribes to it, with complete and valid parameters', async () => {
    const [peer] = await memoryPeers('scored', 1);
    cleanup.push(async () => {
      await peer!.stop();
    });
    const params = scoringOf(peer!.services.pubsub).score.params;
    expect(params.topics).toEqual({});
    peer!.services.swarm.subscribe('/t', () => ({ action: 'accept' }));
    expect(params.topics['/t']?.invalidMessageDeliveriesWeight).toBe(-1);
    expect(params.topics['/t']?.meshMessageDeliveriesWeight).toBe(0);
    expect(params.topics['/t']?.firstMessageDeliveriesWeight).toBe(0);
    // Idempotent, and never removed (gossipsub reads them for peers that have stats on the topic).
    scoreTopic(peer!.services.pubsub, '/t');
    peer!.services.swarm.unsubscribe('/t');
    expect(Object.keys(params.topics)).toEqual(['/t']);
  });

  it('refuses a gossipsub without the score state it relies on', () => {
    expect(() => scoringOf({} as GossipSub)).toThrow(expect.objectContaining({ name: 'GossipScoringError' }));
  });

  it('bans for banMs, keeps the newest bans when full, and scores banned peers far below graylist', () => {
    let now = 0;
    const guard = new GraylistGuard(1_000, 2, () => now);
    guard.ban('a');
    guard.ban('b');
    guard.ban('c');
    expect(['a', 'b', 'c'].map((p) => guard.isBanned(p))).toEqual([false, true, true]);
    // Below the graylist threshold whatever the peer earned otherwise (topic scores cap at +10).
    expect(guard.appSpecificScore('b')).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold - 10);
    now = 1_001;
    expect(guard.isBanned('b')).toBe(false);
    expect(guard.appSpecificScore('b')).toBe(0);
  });

  it('a peer that floods Rejects is graylisted and disconnected by every honest peer, and stays out', async () => {
    const { problem, w0, manifest } = setup(512);
    const peers = await memoryPeers('flood', 3);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);
    const attacker = await bareGossipNode('flood-evil', await generateKeyPair('Ed25519'));
    cleanup.push(async () => {
      await attacker.stop();
    });
    const evil = attacker.peerId.toString();
    for (const p of peers) await attacker.dial(p.getMultiaddrs()[0]!);
    const topic = topics.deltas(manifest.jobId);
    await waitFor(
      'the attacker sees the topic',
      () => attacker.services.pubsub.getSubscribers(topic).length === 3,
    );

    const graylisted = new Map<number, { score: number; at: number; malformed: number }>();
    const disconnected = new Set<number>();
    peers.forEach((p, i) => {
      const events = p.services.swarm.events;
      events.on('peer:graylisted', (e) => {
        if (e.peer === evil && !graylisted.has(i))
          graylisted.set(i, {
            score: e.score,
            at: Date.now(),
            malformed: p.services.swarm.stats().rejected.malformed,
          });
      });
      events.on('peer:disconnect', (e) => e.peer === evil && disconnected.add(i));
    });

    // Garbage frames, one publish at a time, until every honest peer has graylisted the sender.
    const start = Date.now();
    let sent = 0;
    while (graylisted.size < 3 && sent < 400) {
      await attacker.services.pubsub.publish(topic, new Uint8Array(100).fill(sent % 256)).catch(() => {});
      sent++;
      // Yield to the timers (gossipsub heartbeats) between bursts, as a real flood over a link would.
      if (sent % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor('graylisted by every honest peer', () => graylisted.size === 3);
    await waitFor('disconnected by every honest peer', () => disconnected.size === 3);
    for (const [i, g] of graylisted) {
      expect(g.score).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold);
      // Sixteen Rejects (−256) are the fewest that cross −250; what arrived in flight may add some.
      expect(g.malformed).toBeGreaterThanOrEqual(16);
      expect(scoreOf(peers[i]!, evil)).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold);
      expect(peers[i]!.getConnections(attacker.peerId)).toHaveLength(0);
      console.log(
        `peer ${i}: graylisted ${evil.slice(-6)} after ${g.at - start} ms, ${g.malformed} Rejects, score ${g.score.toFixed(1)}`,
      );
    }
    console.log(`the attacker published ${sent} frames`);

    // It comes back: hung up on at once, and still below the graylist threshold (its messages unread).
    const before = peers[0]!.services.swarm.stats().rejected.malformed;
    const hungUp = new Promise<void>((resolve) =>
      attacker.addEventListener('peer:disconnect', (e) => e.detail.equals(peers[0]!.peerId) && resolve()),
    );
    await attacker.dial(peers[0]!.getMultiaddrs()[0]!).catch(() => {});
    await hungUp;
    expect(peers[0]!.getConnections(attacker.peerId)).toHaveLength(0);
    expect(scoreOf(peers[0]!, evil)).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold);
    expect(peers[0]!.services.swarm.stats().rejected.malformed).toBe(before);

    // The honest peers never scored each other down, and train on together.
    await Promise.all(replicas.map((r, i) => trainLoop(r, problem, i, 1, manifest)));
    for (const p of peers)
      for (const q of peers) if (p !== q) expect(scoreOf(p, q.peerId.toString())).toBeGreaterThanOrEqual(0);
  });

  it('honest peers that join, leave and go quiet keep scores ≥ 0 and are never graylisted', async () => {
    const ROUNDS = 6;
    const { problem, w0, manifest } = setup(512, {
      deadlineMs: 1_200,
      peerTimeoutMs: 1_500,
      maxStaleness: 1,
    });
    const peers = await memoryPeers('churn', 4);
    const replicas = await joinReplicas(peers, manifest, w0, cleanup);
    await waitFor('4 active trainers', () => replicas.every((r) => r.activeContributors() === 4));

    // Every gossipsub heartbeat of every peer: the lowest score it gives anyone, and any graylisting.
    let lowest = { score: Infinity, by: '', of: '' };
    let samples = 0;
    let highest = -Infinity;
    const graylisted: string[] = [];
    const watch = (p: SwarmPeer) => {
      const scoring = scoringOf(p.services.pubsub);
      p.services.pubsub.addEventListener('gossipsub:heartbeat', () => {
        for (const q of p.services.pubsub.getPeers()) {
          const s = scoring.getScore(q.toString());
          samples++;
          if (s < lowest.score) lowest = { score: s, by: p.peerId.toString(), of: q.toString() };
          highest = Math.max(highest, s);
        }
      });
      p.services.swarm.events.on('peer:graylisted', (e) => graylisted.push(e.peer));
    };
    peers.forEach(watch);
    const merged: { round: number; peers: string[] }[] = [];
    replicas[0]!.events.on('round:closed', (e) => merged.push({ round: e.round, peers: e.peers }));

    // Peer 1 goes quiet for rounds 1–2 (no deltas for longer than a round's deadline); peer 3 trains two
    // rounds and leaves; once round 2 has closed a new peer joins by weight sync, and all train on.
    const quiet = (round: number) => (round === 1 || round === 2 ? 2_500 : 0);
    const firstPart = Promise.all(
      [0, 1, 2].map((i) =>
        trainLoop(replicas[i]!, problem, i, 3, manifest, undefined, i === 1 ? quiet : undefined),
      ),
    );
    await trainLoop(replicas[3]!, problem, 3, 2, manifest);
    await replicas[3]!.stop();
    await peers[3]!.stop();
    await firstPart;
    const late = await createNodePeer({ ...FAST, listen: ['/memory/churn-late'] });
    cleanup.push(async () => {
      await late.stop();
    });
    watch(late);
    for (const p of peers.slice(0, 3)) await late.dial(p.getMultiaddrs()[0]!);
    const lateReplica = await createSwarmReplica({
      peer: late,
      manifest,
      initialWeights: w0,
      syncFromPeers: true,
    });
    cleanup.push(async () => {
      await lateReplica.stop();
    });
    const stayers = replicas.slice(0, 3);
    await waitFor('the others count the newcomer', () => stayers.every((r) => r.activeContributors() === 4));
    await Promise.all([
      ...stayers.map((r, i) => trainLoop(r, problem, i, ROUNDS, manifest)),
      trainLoop(lateReplica, problem, 4, ROUNDS, manifest),
    ]);
    const all = [...replicas.slice(0, 3), lateReplica];
    await waitFor('quiescence', () =>
      all.every((r) => r.current().round === ROUNDS && r.current().sha256 === all[0]!.current().sha256),
    );

    console.log(
      `${samples} score samples; lowest ${lowest.score.toFixed(2)} (${lowest.by.slice(-6)} of ${lowest.of.slice(-6)}), highest ${highest.toFixed(2)}`,
    );
    const id = (p: SwarmPeer) => p.peerId.toString();
    console.log(
      merged.map((m) => `round ${m.round}: ${m.peers.map((p) => p.slice(-6)).join(' ')}`).join('\n'),
    );
    // The churn happened: a round closed without the quiet peer, the leaver stopped being merged, the
    // newcomer was merged.
    expect(merged.some((m) => !m.peers.includes(id(peers[1]!)))).toBe(true);
    expect(merged.filter((m) => m.round >= 3).every((m) => !m.peers.includes(id(peers[3]!)))).toBe(true);
    expect(merged.some((m) => m.peers.includes(id(late)))).toBe(true);
    expect(samples).toBeGreaterThan(100);
    expect(graylisted).toEqual([]);
    expect(lowest.score).toBeGreaterThanOrEqual(0);
    for (const p of [...peers.slice(0, 3), late]) {
      const { rejected } = p.services.swarm.stats();
      expect(Object.values(rejected).reduce((a, b) => a + b, 0)).toBe(0);
    }
  }, 90_000);
});
