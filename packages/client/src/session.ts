/**
 * One volunteer session from start to end, the same for the Node worker and the browser tab: fetch the
 * signed job (against the pinned job key) and the verified base, create the peer, obtain its admission
 * stamp, connect it to the listed peers, keep meeting
 * newcomers, start the gradient engine, run the volunteer loop — and tear down what was started, in
 * reverse order, whatever happens. Each shell injects what differs: its kind of peer (Node or browser)
 * and which addresses that peer can dial, its engine, its text and its storage.
 */
import { logger } from '@libp2p/logger';
import type { GradientEngine } from '@slimswarm/performer';
import type { AdmissionStamp, JobListing, JobManifest } from '@slimswarm/protocol';
import type { SwarmPeer } from '@slimswarm/swarm';
import { connectToSwarm, keepMeeting } from './connect.js';
import { obtainStamp, type MintFn, type StampStore } from './admission.js';
import { fetchBase, fetchJob } from './fetch-job.js';
import { fetchPinnedJob, type JobKeyPins } from './job-pin.js';
import type { VolunteerStore } from './store.js';
import { runVolunteer } from './volunteer.js';
import type { VolunteerOptions, VolunteerSummary } from './volunteer-options.js';

const log = logger('slimswarm:client:session');

export interface VolunteerSessionOptions extends Pick<
  VolunteerOptions,
  'rounds' | 'signal' | 'pause' | 'emit' | 'memoryBytes' | 'joinTimeoutMs'
> {
  /** The coordinator that publishes the job (`/api/job`, `/api/base`). */
  coordinator: string | URL;
  /** Addresses to dial besides the listing's bootstrap (the worker's `--bootstrap`). */
  bootstrap?: readonly string[];
  /** Which addresses this kind of peer can dial (`dialableBy('node' | 'browser')`); the rest are skipped. */
  canDial: (address: string) => boolean;
  /** Creates and starts the peer; `bootstrap` is the listing's and the extra addresses it can dial. */
  createPeer: (listing: JobListing, bootstrap: string[]) => Promise<SwarmPeer>;
  /** Starts the gradient engine for the job's model; `name` is shown in the 'ready' event. */
  createEngine: (manifest: JobManifest) => Promise<{ engine: GradientEngine; name: string }>;
  /** Endless training sequences of L + 1 token ids from local data (the peer's id may seed their order). */
  sequences: (job: { manifest: JobManifest; peer: SwarmPeer }) => AsyncIterator<Int32Array>;
  /** Held-out sequences to evaluate the shared model on after every round. */
  heldOut?: (manifest: JobManifest) => Promise<readonly Int32Array[]>;
  /** Where this job's volunteer state is kept between runs. */
  store?: (manifest: JobManifest) => VolunteerStore;
  /** How often to re-read the listing for peers that joined around the same time (keepMeeting). */
  meetIntervalMs: number;
  /** The job keys this volunteer trusts per coordinator (trust on first use); none: any valid signature. */
  pins?: JobKeyPins;
  /** The job key to trust (pinned from then on): refuses a job signed by any other key. */
  jobKey?: string;
  /** Where the admission stamp is kept with the identity (minted once, reused on every start). */
  stamps?: StampStore;
  /** An invite job's ticket the operator gave, or an invite code to trade for one. */
  ticket?: AdmissionStamp;
  invite?: string;
  /** Mints a proof of work (default: on this thread, yielding; the tab runs it in its compute worker). */
  mint?: MintFn;
}

/**
 * Runs one session; resolves with the loop's summary when it stopped (rounds done, or `signal` aborted),
 * or null when `signal` aborted before the loop started. Rejects with the first failure, after the
 * teardown.
 */
export async function startVolunteerSession(opts: VolunteerSessionOptions): Promise<VolunteerSummary | null> {
  const { coordinator, signal } = opts;
  const listing = opts.pins
    ? await fetchPinnedJob(coordinator, opts.pins, opts.jobKey)
    : await fetchJob(coordinator, opts.jobKey !== undefined ? { pinnedKey: opts.jobKey } : {});
  const { manifest } = listing;
  const base = await fetchBase(coordinator, manifest);
  const heldOut = await opts.heldOut?.(manifest);
  const started = new Teardown();
  try {
    if (signal?.aborted) return null;
    const bootstrap = [...listing.bootstrap, ...(opts.bootstrap ?? [])].filter(opts.canDial);
    const peer = await opts.createPeer(listing, bootstrap);
    started.add('peer', () => peer.stop());
    const admission = await obtainStamp({
      manifest,
      peerId: peer.peerId.toString(),
      coordinator,
      ...(opts.stamps ? { store: opts.stamps } : {}),
      ...(opts.ticket ? { ticket: opts.ticket } : {}),
      ...(opts.invite !== undefined ? { invite: opts.invite } : {}),
      ...(opts.mint ? { mint: opts.mint } : {}),
      ...(signal ? { signal } : {}),
    });
    // The listed peers first (the coordinator relays tabs' WebRTC handshakes), then whoever comes later.
    await connectToSwarm(peer, bootstrap);
    const meeting = keepMeeting(peer, coordinator, { intervalMs: opts.meetIntervalMs, accept: opts.canDial });
    started.add('meeting', () => meeting.stop());
    if (signal?.aborted) return null;
    const { engine, name } = await opts.createEngine(manifest);
    started.add('engine', () => engine.dispose());
    if (signal?.aborted) return null;
    return await runVolunteer({
      manifest,
      peer,
      engine,
      engineName: name,
      admission,
      base,
      sequences: opts.sequences({ manifest, peer }),
      heldOut,
      store: opts.store?.(manifest),
      rounds: opts.rounds,
      signal,
      pause: opts.pause,
      emit: opts.emit,
      memoryBytes: opts.memoryBytes,
      joinTimeoutMs: opts.joinTimeoutMs,
    });
  } catch (err) {
    // The session's own failure is what the user needs to see; a teardown failure after it is logged.
    await started.run().catch((e: unknown) => log.error('teardown after a failure: %e', e));
    throw err;
  } finally {
    await started.run();
  }
}

/** What a session started, undone in reverse order; every step runs even when one before it fails. */
class Teardown {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  add(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Runs (once) every step, newest first; then throws the first failure, if any. */
  async run(): Promise<void> {
    let failure: { err: unknown } | null = null;
    for (const { what, undo } of this.steps.splice(0).reverse()) {
      try {
        await undo();
      } catch (err) {
        log.error('stopping the %s failed: %e', what, err);
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}
