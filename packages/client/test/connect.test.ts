/**
 * Meeting the swarm with real parts: libp2p peers on the in-process memory transport and a real HTTP
 * listing on loopback that changes while a peer keeps meeting newcomers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JobListing } from '@slimswarm/protocol';
import { createNodePeer, dialableBy, type SwarmPeer } from '@slimswarm/swarm';
import { afterEach, describe, expect, it } from 'vitest';
import { NoPeersReachableError, connectToSwarm, keepMeeting } from '../src/index.js';
import { baseCheckpoint, signedJobFor } from './fixtures.js';

const FAST = { gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100 } };

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function peer(name: string): Promise<SwarmPeer> {
  const p = await createNodePeer({ ...FAST, listen: [`/memory/connect-${name}`] });
  cleanup.push(() => p.stop());
  return p;
}

/** Serves a job listing whose bootstrap list the test edits; counts the reads. */
async function listing(): Promise<{ url: string; bootstrap: string[]; reads: () => number }> {
  const bootstrap: string[] = [];
  let reads = 0;
  const job = signedJobFor(baseCheckpoint());
  const server: Server = createServer((_req, res) => {
    reads++;
    const body: JobListing = { job, coordinatorPeerId: 'coordinator', bootstrap, iceServers: [] };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bootstrap, reads: () => reads };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const connectedTo = (a: SwarmPeer, b: SwarmPeer) =>
  a.getConnections(b.peerId).some((c) => c.status === 'open');

describe('meeting the swarm', () => {
  it('dials every listed peer but itself, and says so when none answers', async () => {
    const [a, b, c, d] = await Promise.all([peer('a1'), peer('b1'), peer('c1'), peer('d1')]);
    const address = (p: SwarmPeer) => p.getMultiaddrs()[0]!.toString();
    expect(await connectToSwarm(a, [address(a), address(b), address(c)])).toBe(2);
    expect(connectedTo(a, b) && connectedTo(a, c)).toBe(true);
    await expect(
      connectToSwarm(a, [`/memory/connect-nobody/p2p/${d.peerId.toString()}`], { timeoutMs: 1_000 }),
    ).rejects.toThrow(NoPeersReachableError);
  });

  it('keeps meeting peers that appear in the listing later, skipping what it cannot dial', async () => {
    const [a, b, c] = await Promise.all([peer('a2'), peer('b2'), peer('c2')]);
    const job = await listing();
    const meeting = keepMeeting(a, job.url, { intervalMs: 100, accept: dialableBy('node') });
    cleanup.push(() => meeting.stop());
    await until('a few reads of the empty listing', () => job.reads() >= 2);
    // A tab's relayed WebRTC address (a Node peer cannot dial it), then two peers that joined late.
    job.bootstrap.push(
      `${b.getMultiaddrs()[0]!.toString()}/p2p-circuit/webrtc/p2p/${c.peerId.toString()}`,
      b.getMultiaddrs()[0]!.toString(),
    );
    await until('a to meet b', () => connectedTo(a, b));
    expect(connectedTo(a, c)).toBe(false);
    job.bootstrap.push(c.getMultiaddrs()[0]!.toString());
    await until('a to meet c', () => connectedTo(a, c));
    meeting.stop();
    // A read already on its way when it stopped may still land (late on a loaded machine); then none.
    await new Promise((r) => setTimeout(r, 1_000));
    const reads = job.reads();
    await new Promise((r) => setTimeout(r, 300));
    expect(job.reads()).toBe(reads);
  });
});
