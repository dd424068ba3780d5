/**
 * Joining the job's shared model: replay it from the history peers hold (from the verified base, which
 * every joiner has), or — when nobody announced one
 * in time (the first peers of a job) — start from the verified base checkpoint, as every first peer does.
 * Only "nobody announced a model" falls back to the base. Any other failure (peers announced a model
 * but none could serve it, a bad manifest, …) reaches the caller: training from the base beside a swarm
 * that is ahead would only produce deltas nobody can merge.
 */
import { createSwarmReplica, isTrainer, NoSyncSourceError, type SwarmReplica } from '@slimswarm/swarm';
import { jobModel, type JobModel } from './job-model.js';
import type { VolunteerOptions } from './volunteer-options.js';

export const DEFAULT_JOIN_TIMEOUT_MS = 8_000;

export interface Joined {
  replica: SwarmReplica;
  /** Where the model came from, for the 'synced' event. */
  source: 'peers' | 'base checkpoint';
}

/** By class, or by name when the error crossed a realm or a second copy of the swarm package. */
function isNoSyncSource(err: unknown): boolean {
  return err instanceof NoSyncSourceError || (err as Error)?.name === 'NoSyncSourceError';
}

/** Throws the abort reason when `opts.signal` aborts before the replica exists. */
export async function joinSwarm(
  opts: Pick<VolunteerOptions, 'peer' | 'manifest' | 'base' | 'signal' | 'joinTimeoutMs' | 'admission'>,
  model: JobModel = jobModel(opts.manifest, opts.base),
  /** Deltas this volunteer published in the job before (its saved state): ε goes on from there. */
  privacyReleases = 0,
): Promise<Joined> {
  // Names and shapes come from the manifest, the weights from the verified base (or, for LoRA, the
  // seeded adapter init): never from a peer.
  const { shapes, initialWeights } = model;
  const start = model.lora ? ('derived' as const) : ('base' as const);
  const admission = {
    ...(opts.admission ? { admission: opts.admission } : {}),
    privacyReleases,
  };
  try {
    const replica = await createSwarmReplica({
      peer: opts.peer,
      manifest: opts.manifest,
      shapes,
      initialWeights,
      start,
      ...admission,
      syncFromPeers: true,
      joinTimeoutMs: opts.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS,
      signal: opts.signal,
    });
    return { replica, source: 'peers' };
  } catch (err) {
    if (!isNoSyncSource(err)) throw err;
  }
  opts.signal?.throwIfAborted();
  const replica = await createSwarmReplica({
    peer: opts.peer,
    manifest: opts.manifest,
    shapes,
    ...admission,
    initialWeights,
    start,
  });
  // Peers starting together must know of each other before the first round can close, or each would
  // close it alone (a quorum of the active peers it knows). Heartbeats announce trainers: wait for two.
  // A peer that does not train (one fetching the model to use it) closes no round and need not wait.
  const { timings, role } = opts.peer.services.swarm;
  if (isTrainer(role)) await sleep(Math.round(2.5 * timings.heartbeatIntervalMs), opts.signal);
  return { replica, source: 'base checkpoint' };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
