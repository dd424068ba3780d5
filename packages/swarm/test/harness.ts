/** Helpers for the multi-peer tests: fast timings, peers on one transport, waiting. */
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica, type SwarmReplica } from '../src/replica.js';
import type { PeerConfigInput } from '../src/peer-config.js';

export { flat, named, trainLoop } from '../bench/synthetic-problem.js';

export const FAST: Pick<PeerConfigInput, 'gossip' | 'swarm'> = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100, seenTtlMs: 30_000 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

export async function memoryPeers(
  prefix: string,
  n: number,
  extra: Partial<PeerConfigInput> = {},
): Promise<SwarmPeer[]> {
  const peers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      createNodePeer({ ...FAST, listen: [`/memory/${prefix}-${i}`], ...extra }),
    ),
  );
  // Full mesh: every pair connected once.
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) await peers[i]!.dial(peers[j]!.getMultiaddrs()[0]!);
  return peers;
}

export async function waitFor(
  what: string,
  cond: () => boolean,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Joins every peer to the job with the same initial weights; stopping them is added to `cleanup`. */
export async function joinReplicas(
  peers: SwarmPeer[],
  manifest: unknown,
  w0: Record<string, Float32Array>,
  cleanup: (() => Promise<void>)[],
): Promise<SwarmReplica[]> {
  const replicas = await Promise.all(
    peers.map((peer) => createSwarmReplica({ peer, manifest, initialWeights: w0 })),
  );
  cleanup.push(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(peers.map((p) => p.stop()));
  });
  return replicas;
}
