/**
 * The bootstrap listing cannot be captured: only connected peers, only addresses on the IP their
 * connection comes from (or a tab's WebRTC address through our own relay), a few per network prefix,
 * oldest connection first — checked as a rule, and against a real coordinator flooded by one attacker.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  JobListing,
  PROTOCOL_VERSION,
  TicketGrant,
  encodeFrame,
  topics,
  type AdmissionStamp,
  type Heartbeat,
} from '@slimswarm/protocol';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import { afterAll, describe, expect, it } from 'vitest';
import { bootstrapListing, prefixOf, type ConnectedPeer } from '../src/bootstrap-list.js';
import { startCoordinator } from '../src/coordinator.js';
import { parseCoordinatorArgs } from '../src/options.js';

const OWN = ['/ip4/192.0.2.1/tcp/4001/ws/p2p/COORD'];

/** A trainer's heartbeat with `admission`: what makes the coordinator count (and list) its sender. */
function heartbeat(jobId: string, admission: AdmissionStamp): Heartbeat {
  return {
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
  };
}

function seen(peer: string, since: number, ip: string, announced: string[], reserved = false): ConnectedPeer {
  return { peer, since, observed: [`/ip4/${ip}/tcp/55555`], announced, reserved };
}

describe('bootstrapListing (the rule)', () => {
  it('lists announced addresses only on the observed IP, a few per /24, oldest peers first', () => {
    const honest = [
      seen('h1', 1, '198.51.100.7', ['/ip4/198.51.100.7/tcp/4001']),
      seen('h2', 2, '203.0.113.9', ['/ip4/203.0.113.9/tcp/4001', '/ip4/10.0.0.5/tcp/4001']),
    ];
    // One attacker, forty identities on one /24, some claiming other hosts' addresses.
    const flood = Array.from({ length: 40 }, (_, i) =>
      seen(`x${i}`, 10 + i, `233.252.0.${i + 1}`, [
        `/ip4/233.252.0.${i + 1}/tcp/1`,
        '/ip4/198.51.100.7/tcp/9',
      ]),
    );
    const listed = bootstrapListing([...flood, ...honest], { own: OWN });
    expect(listed).toEqual([
      ...OWN,
      '/ip4/198.51.100.7/tcp/4001/p2p/h1',
      '/ip4/203.0.113.9/tcp/4001/p2p/h2',
      '/ip4/233.252.0.1/tcp/1/p2p/x0',
      '/ip4/233.252.0.2/tcp/1/p2p/x1',
    ]);
  });

  it('lists a tab’s WebRTC address only through this coordinator’s relay, for a tab with a reservation', () => {
    const good = `${OWN[0]}/p2p-circuit/webrtc`;
    const elsewhere = '/ip4/233.252.0.9/tcp/1/ws/p2p/OTHER/p2p-circuit/webrtc';
    const tabs = [
      seen('tab', 1, '198.51.100.8', [good, elsewhere, `${OWN[0]}/p2p-circuit`], true),
      seen('squatter', 2, '203.0.113.1', [good]),
    ];
    expect(bootstrapListing(tabs, { own: OWN })).toEqual([...OWN, `${good}/p2p/tab`]);
  });

  it('groups by /24 and /48; loopback is this machine', () => {
    expect(prefixOf('/ip4/198.51.100.7/tcp/1')).toBe('198.51.100.0/24');
    expect(prefixOf('/ip6/2001:db8:aa:1::5/tcp/1')).toBe('2001:db8:aa::/48');
    expect(prefixOf('/ip6/2001:db8:aa:ffff:1:2:3:4/tcp/1')).toBe('2001:db8:aa::/48');
    expect(prefixOf('/ip4/127.0.0.1/tcp/1')).toBe('loopback');
    expect(prefixOf('/ip6/::1/tcp/1')).toBe('loopback');
    expect(prefixOf('/memory/x')).toBeNull();
  });
});

describe('a real coordinator flooded by one attacker', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('still hands newcomers the honest peers first, and never an address its announcer does not hold', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slimswarm-listing-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    // Invite-only, so every identity here can be admitted cheaply: the attacker's twenty are admitted too.
    const codes = Array.from({ length: 22 }, (_, i) => `invite-${i}`);
    await writeFile(join(dir, 'invites'), `${codes.join('\n')}\n`);
    const coordinator = await startCoordinator({
      ...parseCoordinatorArgs(['--port', '0', '--json', '--invite-codes', join(dir, 'invites')]),
      webDir: dir,
      dashboardDir: dir,
    });
    stops.push(async () => {
      await coordinator.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const topic = topics.heartbeat(coordinator.manifest.jobId);
    let invites = 0;
    /** Connects `p`, gets a ticket for it and announces it with one heartbeat: it is then admitted. */
    const join_ = async (p: SwarmPeer) => {
      stops.push(async () => {
        await p.stop();
      });
      await p.dial(coordinator.peer.getMultiaddrs()[0]!);
      const body = JSON.stringify({ peerId: p.peerId.toString(), invite: codes[invites++] });
      const res = await fetch(new URL('/api/ticket', coordinator.http.url), { method: 'POST', body });
      const admission = TicketGrant.parse(await res.json()).ticket;
      p.services.pubsub.subscribe(topic);
      for (let i = 0; i < 200 && p.services.pubsub.getSubscribers(topic).length === 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      await p.services.pubsub.publish(topic, encodeFrame(heartbeat(coordinator.manifest.jobId, admission)));
    };
    const honest = await Promise.all(
      [0, 1].map(() => createNodePeer({ listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] })),
    );
    for (const p of honest) await join_(p);
    // Twenty identities: half announce another host's address, half flood real ones of their own.
    const victimAddr = '/ip4/198.51.100.7/tcp/4001';
    const flood = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createNodePeer({
          listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0'],
          ...(i % 2 === 0 ? { announce: [victimAddr] } : {}),
        }),
      ),
    );
    for (const p of flood) await join_(p);
    const listing = async () =>
      JobListing.parse(await (await fetch(new URL('/api/job', coordinator.http.url))).json()).bootstrap;
    const ids = (addrs: string[]) => addrs.map((a) => a.split('/p2p/').at(-1)!);
    // Identify has told the coordinator everyone's addresses once the floods' own show up.
    const flooders = flood.filter((_, i) => i % 2 === 1).map((p) => p.peerId.toString());
    for (let tries = 0; !ids(await listing()).some((id) => flooders.includes(id)); tries++) {
      if (tries > 100) throw new Error('the flood never showed up in the listing');
      await new Promise((r) => setTimeout(r, 50));
    }
    const listed = await listing();
    const others = ids(listed.slice(coordinator.multiaddrs().length));
    const honestIds = honest.map((p) => p.peerId.toString());
    // Both honest peers (each with its TCP and WebSocket address) come before any of the flood.
    expect(others.slice(0, 4).sort()).toEqual([...honestIds, ...honestIds].sort());
    expect(listed.length).toBeLessThanOrEqual(32);
    expect(listed.some((a) => a.startsWith(victimAddr))).toBe(false);
  }, 60_000);
});
