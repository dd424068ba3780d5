/**
 * Entering a job, the same for a volunteer session (session.ts) and for fetching the shared model
 * (fetch-model.ts): the signed listing (against the pinned job key) and the verified base over HTTP, then
 * a started peer with its admission stamp, connected to the listed peers.
 */
import type { AdmissionStamp, JobListing } from '@slimswarm/protocol';
import type { SwarmPeer } from '@slimswarm/swarm';
import { obtainStamp, type MintFn, type StampStore } from './admission.js';
import { connectToSwarm } from './connect.js';
import type { Tokenizer } from '@slimswarm/performer';
import { fetchBase, fetchJob, fetchTokenizer, type VerifiedListing } from './fetch-job.js';
import { fetchPinnedJob, type JobKeyPins } from './job-pin.js';
import type { Teardown } from './teardown.js';

export interface JobEntryOptions {
  /** The coordinator that publishes the job (`/api/job`, `/api/base`, `/api/tokenizer/<sha256>`). */
  coordinator: string | URL;
  /** Addresses to dial besides the listing's bootstrap (the worker's `--bootstrap`). */
  bootstrap?: readonly string[];
  /** Which addresses this kind of peer can dial (`dialableBy('node' | 'browser')`); the rest are skipped. */
  canDial: (address: string) => boolean;
  /** Creates and starts the peer; `bootstrap` is the listing's and the extra addresses it can dial. */
  createPeer: (listing: JobListing, bootstrap: string[]) => Promise<SwarmPeer>;
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
  signal?: AbortSignal;
}

/** The verified listing, base checkpoint and tokenizer. */
export async function fetchVerifiedJob(
  o: JobEntryOptions,
): Promise<{ listing: VerifiedListing; base: Uint8Array; tokenizer: Tokenizer }> {
  const signal = o.signal ? { signal: o.signal } : {};
  const listing = o.pins
    ? await fetchPinnedJob(o.coordinator, o.pins, o.jobKey, signal)
    : await fetchJob(o.coordinator, {
        ...(o.jobKey !== undefined ? { pinnedKey: o.jobKey } : {}),
        ...signal,
      });
  const base = await fetchBase(o.coordinator, listing.manifest, signal);
  const tokenizer = await fetchTokenizer(o.coordinator, listing.manifest, signal);
  return { listing, base, tokenizer };
}

/**
 * Starts the peer (stopped by `started`), obtains its admission stamp and dials the listed peers (the
 * coordinator among them, which relays tabs' WebRTC handshakes).
 */
export async function enterSwarm(
  o: JobEntryOptions,
  listing: VerifiedListing,
  started: Teardown,
): Promise<{ peer: SwarmPeer; admission: AdmissionStamp }> {
  const bootstrap = [...listing.bootstrap, ...(o.bootstrap ?? [])].filter(o.canDial);
  const peer = await o.createPeer(listing, bootstrap);
  started.add('peer', () => peer.stop());
  const admission = await obtainStamp({
    manifest: listing.manifest,
    peerId: peer.peerId.toString(),
    coordinator: o.coordinator,
    ...(o.stamps ? { store: o.stamps } : {}),
    ...(o.ticket ? { ticket: o.ticket } : {}),
    ...(o.invite !== undefined ? { invite: o.invite } : {}),
    ...(o.mint ? { mint: o.mint } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  await connectToSwarm(peer, bootstrap);
  return { peer, admission };
}
