/** Helpers for the multi-peer tests: fast timings, peers on one transport, a synthetic training loop. */
import type { ContributorStats, JobManifest } from '@slimswarm/protocol';
import { localSteps, type SyntheticProblem } from '../bench/synthetic.js';
import { StaleContributionError } from '../src/errors.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import type { SwarmReplica } from '../src/replica.js';
import type { PeerConfigInput } from '../src/config.js';

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

export function flat(weights: Record<string, Float32Array>, problem: SyntheticProblem): Float32Array {
  const out = new Float32Array(problem.params);
  let offset = 0;
  for (const name of Object.keys(problem.shapes).sort()) {
    out.set(weights[name]!, offset);
    offset += weights[name]!.length;
  }
  return out;
}

export function named(v: Float32Array, problem: SyntheticProblem): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let offset = 0;
  for (const name of Object.keys(problem.shapes).sort()) {
    const size = problem.shapes[name]![0]!;
    out[name] = v.slice(offset, offset + size);
    offset += size;
  }
  return out;
}

/**
 * The volunteer loop with a synthetic trainer: H steps from g_r, contribute, wait for the merge; a stale
 * round (closed without us, or resynced) just restarts from the current model. Stops at `untilRound`.
 */
export async function trainLoop(
  replica: SwarmReplica,
  problem: SyntheticProblem,
  index: number,
  untilRound: number,
  manifest: JobManifest,
  signal?: AbortSignal,
): Promise<void> {
  while (!signal?.aborted) {
    const base = replica.current();
    if (base.round >= untilRound) return;
    const local = localSteps(problem, index, flat(base.weights, problem), manifest.training.localSteps, 0.5);
    const stats: ContributorStats = {
      tokens: 1000,
      steps: manifest.training.localSteps,
      meanLoss: problem.loss(local),
    };
    const next = replica.nextRound(signal);
    try {
      await replica.contribute(base, named(local, problem), stats);
    } catch (err) {
      if (!(err instanceof StaleContributionError)) throw err;
      continue;
    }
    await next;
  }
}
