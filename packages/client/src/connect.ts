/**
 * Meeting the swarm: dial every address the coordinator listed (itself and the peers it knows) instead of
 * waiting for peer discovery, so a newcomer is in the gossip mesh with direct links to the other trainers
 * before its first round, and keeps those links if the coordinator goes away.
 */
import { logger } from '@libp2p/logger';
import { multiaddr } from '@multiformats/multiaddr';
import type { SwarmPeer } from '@slimswarm/swarm';
import { fetchJob } from './fetch-job.js';

const log = logger('slimswarm:client:connect');

/** None of the listed peers could be reached. */
export class NoPeersReachableError extends Error {
  static override name = 'NoPeersReachableError';
  override name = 'NoPeersReachableError';
}

/**
 * Dials each address (skipping our own peer id); resolves with how many peers answered. Throws
 * NoPeersReachableError when addresses were given and none answered.
 */
export async function connectToSwarm(
  peer: SwarmPeer,
  addresses: readonly string[],
  opts: { timeoutMs?: number; accept?: (address: string) => boolean } = {},
): Promise<number> {
  const self = peer.peerId.toString();
  const targets = addresses.filter((a) => !a.endsWith(`/p2p/${self}`) && (opts.accept?.(a) ?? true));
  if (targets.length === 0) return 0;
  const results = await Promise.allSettled(
    targets.map((a) => peer.dial(multiaddr(a), { signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) })),
  );
  const reached = new Set(
    results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.remotePeer.toString()] : [])),
  );
  if (reached.size === 0) {
    const first = results.find((r) => r.status === 'rejected');
    throw new NoPeersReachableError(
      `none of ${targets.length} listed peers answered${first?.status === 'rejected' ? `: ${String((first.reason as Error)?.message ?? first.reason)}` : ''}`,
    );
  }
  return reached.size;
}

/**
 * Keeps meeting newcomers: every `intervalMs` re-reads the coordinator's listing and dials the listed
 * peers this peer has no full connection to. Peers that joined after us dial us themselves, but two that
 * start at the same moment may each read a listing without the other — tabs in particular, whose WebRTC
 * address exists only once their relay reservation is made. Failures wait for the next turn.
 */
export function keepMeeting(
  peer: SwarmPeer,
  coordinator: string | URL,
  opts: { intervalMs: number; accept?: (address: string) => boolean },
): { stop(): void } {
  let busy = false;
  const meet = async () => {
    const { bootstrap } = await fetchJob(coordinator);
    const connected = new Set(
      peer
        .getConnections()
        .filter((c) => c.limits === undefined)
        .map((c) => c.remotePeer.toString()),
    );
    const fresh = bootstrap.filter((a) => {
      const id = /\/p2p\/([^/]+)$/.exec(a)?.[1] ?? null;
      return id !== null && !connected.has(id) && (opts.accept?.(a) ?? true);
    });
    await connectToSwarm(peer, fresh);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    meet()
      .catch((err: unknown) => log('meeting newcomers failed: %s', (err as Error).message))
      .finally(() => (busy = false));
  }, opts.intervalMs);
  return { stop: () => clearInterval(timer) };
}
