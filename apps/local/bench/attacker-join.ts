/**
 * How a benchmark attacker process (attacker.ts: poisoning; flood-attacker.ts: resource floods) meets the
 * swarm, the same way a worker does: the coordinator's listing and the base checkpoint verified against
 * the manifest (fetchJob, fetchBase), a 'worker' role Node peer dialled into the listed peers
 * (connectToSwarm, keepMeeting). Also the process plumbing both share: its parent's go (SIGUSR2), a stop
 * on SIGINT/SIGTERM or when the parent is gone, and an exit that cannot hang.
 */
import { setMaxListeners } from 'node:events';
import { connectToSwarm, fetchBase, fetchJob, keepMeeting } from '@slimswarm/client';
import { decodeSafetensors, type JobListing, type JobManifest } from '@slimswarm/protocol';
import { createNodePeer, dialableBy, type SwarmPeer } from '@slimswarm/swarm';

const MEET_INTERVAL_MS = 10_000;
const POLL_MS = 250;
/** How long to wait for the coordinator to come up. */
const COORDINATOR_WAIT_MS = 180_000;
/** After a stop was asked for, the process ends within this long whatever else happens. */
const EXIT_GRACE_MS = 20_000;

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // The listener goes when the timer fires: a loop of sleeps must not pile listeners on one signal.
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Retries `fetch` while the coordinator is not up yet (JobFetchError), for COORDINATOR_WAIT_MS. */
export async function untilAnswered<T>(fetch: () => Promise<T>, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + COORDINATOR_WAIT_MS;
  for (;;) {
    try {
      return await fetch();
    } catch (e) {
      if ((e as Error).name !== 'JobFetchError' || Date.now() > deadline || signal.aborted) throw e;
    }
    await sleep(POLL_MS, signal);
  }
}

export interface AttackerProcess {
  signal: AbortSignal;
  /** Resolves on the parent's SIGUSR2 (installed before anything is printed, so it is never missed) or a stop. */
  go: Promise<void>;
  /** Clears the parent watchdog. */
  dispose(): void;
}

/** Stop on SIGINT/SIGTERM or when the parent process is gone; `go` on SIGUSR2. */
export function attackerProcess(): AttackerProcess {
  const controller = new AbortController();
  const { signal } = controller;
  // Every stream and sleep of a flood listens on this one signal: hundreds at once are expected here.
  setMaxListeners(0, signal);
  const stop = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const go = new Promise<void>((resolve) => {
    process.once('SIGUSR2', () => resolve());
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  // A parent that died without signalling us: its child would otherwise attack forever.
  const parent = process.ppid;
  const watchdog = setInterval(() => process.ppid !== parent && stop(), 1_000);
  watchdog.unref();
  signal.addEventListener('abort', () => setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref(), {
    once: true,
  });
  return { signal, go, dispose: () => clearInterval(watchdog) };
}

export interface JoinedAttacker {
  manifest: JobManifest;
  listing: JobListing;
  /** The verified base checkpoint (SHA-256 checked against the manifest). */
  baseBytes: Uint8Array;
  shapes: Record<string, number[]>;
  peer: SwarmPeer;
  /** The listed addresses a Node peer can dial. */
  bootstrap: string[];
  /** Dials whoever joined since the listing was read; resolves with the listed addresses now. */
  meetNewcomers(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Reads the job (waiting for the coordinator), fetches the base and connects a 'worker' peer to the listed peers. */
export async function joinAsWorkerPeer(coordinator: string, signal: AbortSignal): Promise<JoinedAttacker> {
  const canDial = dialableBy('node');
  const listing = await untilAnswered(() => fetchJob(coordinator), signal);
  const { manifest } = listing;
  const baseBytes = await fetchBase(coordinator, manifest);
  const shapes = Object.fromEntries(
    Object.entries(decodeSafetensors(baseBytes).tensors).map(([name, t]) => [name, t.shape]),
  );
  const bootstrap = listing.bootstrap.filter(canDial);
  const peer = await createNodePeer({
    role: 'worker',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap,
    gossip: { ipColocationFactorWeight: 0 },
  });
  await connectToSwarm(peer, bootstrap);
  const meeting = keepMeeting(peer, coordinator, { intervalMs: MEET_INTERVAL_MS, accept: canDial });
  return {
    manifest,
    listing,
    baseBytes,
    shapes,
    peer,
    bootstrap,
    async meetNewcomers() {
      const now = (await fetchJob(coordinator)).bootstrap.filter(canDial);
      await connectToSwarm(peer, now);
      return now;
    },
    async stop() {
      meeting.stop();
      await peer.stop();
    },
  };
}
