/** The benchmark's transport meter counts what the memory transport really carries between two peers. */
import { afterEach, describe, it } from 'vitest';
import { TransportMeter } from '../bench/transport-meter.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { FAST, waitFor } from './harness.js';

let peers: SwarmPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  peers = [];
});

describe('transport meter', () => {
  it('counts the handshake and each ping, on both ends', async () => {
    const meters = [new TransportMeter(), new TransportMeter()];
    peers = await Promise.all(
      meters.map((m, i) =>
        createNodePeer({ ...FAST, listen: [`/memory/meter-${i}`] }, { metrics: m.metrics }),
      ),
    );
    await peers[0]!.dial(peers[1]!.getMultiaddrs()[0]!);
    await waitFor('both ends count the handshake', () => meters.every((m) => m.received > 0));
    const before = meters.map((m) => m.received);
    // A ping is 32 random bytes each way, encrypted and muxed: at least that much more on each end.
    await peers[0]!.services.ping.ping(peers[1]!.peerId);
    await waitFor('the echo is counted', () => meters.every((m, i) => m.received - before[i]! >= 32));
  });
});
