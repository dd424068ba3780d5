import { Heartbeat, PROTOCOL_VERSION, type DeltaAnnouncement } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { SwarmState } from '../src/state.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const TIMEOUT = 10_000;

function heartbeat(over: Partial<Heartbeat> = {}): Heartbeat {
  return Heartbeat.parse({
    type: 'heartbeat',
    version: PROTOCOL_VERSION,
    jobId: 'job',
    role: 'worker',
    status: 'training',
    round: 3,
    modelSha256: HASH_A,
    step: 24,
    tokensPerSec: 900,
    loss: 2.5,
    memoryBytes: 1 << 20,
    connectedPeers: [],
    webRtcPeers: [],
    bytesIn: 0,
    bytesOut: 0,
    sentAt: 0,
    admission: { kind: 'pow', nonce: '00'.repeat(8) },
    ...over,
  });
}

function announcement(
  round: number,
  part: { index: number; count: number },
  payloadBytes = 4000,
  baseRound = round,
): DeltaAnnouncement {
  return {
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: 'job',
    round,
    baseRound,
    baseModelSha256: HASH_A,
    stats: { tokens: 1024, steps: 8, meanLoss: 2.4 },
    codec: 'topk-int8',
    payloadBytes,
    payloadSha256: HASH_B,
    authorSignature: '5a'.repeat(64),
    admission: { kind: 'pow', nonce: '00'.repeat(8) },
    partDigests: Array.from({ length: part.count }, () => HASH_B),
    part,
  };
}

describe('reported ε', () => {
  it("keeps each peer's latest self-reported ε, and null for peers that report none", () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat({ epsilon: 1.5 }), 300, 1000);
    s.heartbeat('w2', heartbeat(), 300, 1000);
    expect(s.peers.get('w1')!.reportedEpsilon).toBe(1.5);
    expect(s.peers.get('w2')!.reportedEpsilon).toBeNull();
    s.heartbeat('w1', heartbeat({ epsilon: 2.25 }), 300, 2000);
    expect(s.peers.get('w1')!.reportedEpsilon).toBe(2.25);
  });
});

describe('SwarmState', () => {
  it('knows itself as the dashboard and learns peers from heartbeats and connection lists', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat({ connectedPeers: ['coord', 'dash'] }), 300, 1000);
    s.heartbeat(
      'tab1',
      heartbeat({ role: 'browser', connectedPeers: ['coord', 'tab2'], webRtcPeers: ['tab2'] }),
      300,
      1000,
    );
    s.connections(['coord']);
    const roles = Object.fromEntries(s.peerList().map((p) => [p.id, p.role]));
    expect(roles).toEqual({ dash: 'dashboard', coord: null, w1: 'worker', tab1: 'browser', tab2: null });
    expect(s.peerList()[0]!.id).toBe('dash');
    expect(
      s
        .edges()
        .map((e) => `${e.a}-${e.b}${e.webRtc ? ' webrtc' : ''}`)
        .sort(),
    ).toEqual(['coord-dash', 'coord-tab1', 'coord-w1', 'dash-w1', 'tab1-tab2 webrtc']);
    expect(s.wireBytes.heartbeat).toBe(600);
  });

  it('draws only admitted peers (and itself and the coordinator), and only edges between them', () => {
    const admitted = new Set(['w1']);
    const s = new SwarmState('dash', TIMEOUT, (p) => admitted.has(p));
    s.assumeRole('coord', 'coordinator');
    s.heartbeat('w1', heartbeat({ connectedPeers: ['coord', 'sybil'] }), 1, 1000);
    s.reject('sybil', 'not-admitted');
    expect(s.peerList().map((p) => p.id)).toEqual(['dash', 'coord', 'w1']);
    expect(s.edges().map((e) => `${e.a}-${e.b}`)).toEqual(['coord-w1']);
    admitted.add('sybil');
    expect(s.peerList().map((p) => p.id)).toContain('sybil');
  });

  it('counts a peer as live while heard recently or connected to the dashboard', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat(), 1, 1000);
    s.assumeRole('coord', 'coordinator');
    const live = (id: string, now: number) => s.isLive(s.peers.get(id)!, now);
    expect([live('w1', 1000 + TIMEOUT), live('w1', 1001 + TIMEOUT), live('coord', 1000)]).toEqual([
      true,
      false,
      false,
    ]);
    s.connections(['coord']);
    expect(live('coord', 1000)).toBe(true);
  });

  it('takes an assumed role until the peer speaks for itself', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.assumeRole('coord', 'coordinator');
    expect(s.peers.get('coord')!.role).toBe('coordinator');
    s.heartbeat('coord', heartbeat({ role: 'worker' }), 1, 1000);
    s.assumeRole('coord', 'coordinator');
    expect(s.peers.get('coord')!.role).toBe('worker');
  });

  it('keeps time series only for trainers, bounded in length', () => {
    const s = new SwarmState('dash', TIMEOUT);
    for (let i = 0; i < 700; i++) s.heartbeat('w1', heartbeat({ loss: 3 - i / 1000 }), 100, i);
    s.heartbeat('coord', heartbeat({ role: 'coordinator' }), 100, 5);
    expect(s.samples.get('w1')).toHaveLength(600);
    expect(s.samples.get('w1')!.at(-1)!.at).toBe(699);
    expect(s.samples.has('coord')).toBe(false);
  });

  it('reports agreement among live honest trainers at the round most of them report', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat({ round: 3, modelSha256: HASH_A }), 1, 1000);
    s.heartbeat('tab1', heartbeat({ role: 'browser', round: 3, modelSha256: HASH_A }), 1, 1000);
    // One round ahead: merged already, not a disagreement.
    s.heartbeat('tab2', heartbeat({ role: 'browser', round: 4, modelSha256: HASH_B }), 1, 1000);
    expect(s.agreement(2000)).toEqual({
      round: 3,
      groups: [{ modelSha256: HASH_A, peers: ['tab1', 'w1'] }],
      agree: true,
      elsewhere: 1,
    });

    s.heartbeat('w2', heartbeat({ round: 3, modelSha256: HASH_B }), 1, 1000);
    const split = s.agreement(2000)!;
    expect(split.agree).toBe(false);
    expect(split.groups.map((g) => g.peers.length)).toEqual([2, 1]);

    // A peer that sent invalid messages is not counted as honest; a silent one is not live.
    s.reject('w2', 'malformed');
    expect(s.agreement(2000)!.agree).toBe(true);
    expect(s.agreement(1000 + TIMEOUT + 1)).toBeNull();
  });

  it('compares at the newer round when as many trainers are at each', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat({ round: 0, modelSha256: HASH_A }), 1, 1000);
    s.heartbeat('tab1', heartbeat({ role: 'browser', round: 7, modelSha256: HASH_B }), 1, 1000);
    expect(s.agreement(2000)).toMatchObject({ round: 7, agree: true, elsewhere: 1 });
  });

  it('counts a delta once its last part arrives and sums wire bytes of every part', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.heartbeat('w1', heartbeat({ round: 5 }), 1, 1000);
    s.heartbeat('tab1', heartbeat({ role: 'browser', round: 5 }), 1, 1000);
    s.delta('w1', announcement(5, { index: 0, count: 2 }, 9000), 5000);
    expect(s.roundProgress(1000)).toEqual({ round: 5, delivered: 0, trainers: 2 });
    s.delta('w1', announcement(5, { index: 1, count: 2 }, 9000), 4500);
    s.delta('tab1', announcement(5, { index: 0, count: 1 }, 3000, 4), 3500); // a slow tab's, from round 4
    const round = s.rounds.get(5)!;
    expect([...round.contributors].sort()).toEqual(['tab1', 'w1']);
    expect([...round.stale]).toEqual(['tab1']);
    expect(round.wireBytes).toBe(13_000);
    expect([...round.deltaBytes.values()].reduce((a, b) => a + b)).toBe(12_000);
    expect(s.roundProgress(1000)).toEqual({ round: 5, delivered: 2, trainers: 2 });
  });

  it('tallies rejections by reason and blames the sender', () => {
    const s = new SwarmState('dash', TIMEOUT);
    s.reject('evil', 'oversize');
    s.reject('evil', 'oversize');
    s.reject(null, 'newer-version');
    expect(Object.fromEntries(s.rejected)).toEqual({ oversize: 2, 'newer-version': 1 });
    expect(s.peers.get('evil')!.rejected).toBe(2);
  });
});
