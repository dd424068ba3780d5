/**
 * Which job key a volunteer trusts, per coordinator: the key the coordinator served on first use (trust
 * on first use), or one the volunteer was given (`--job-key`). From then on a listing signed by any other
 * key — a coordinator taken over, a proxy rewriting the manifest — is refused with JobKeyMismatchError
 * before anything is trained. The worker keeps its pins in a file, the tab in IndexedDB.
 */
import { JobKeyHex } from '@slimswarm/protocol';
import { z } from 'zod';
import { fetchJob, type VerifiedListing } from './fetch-job.js';

/** Coordinator origin → job key (hex): the shape both stores keep. */
export const JobKeyPinsRecord = z.record(z.string().max(2048), JobKeyHex);
export type JobKeyPinsRecord = z.infer<typeof JobKeyPinsRecord>;

export interface JobKeyPins {
  get(coordinator: string): Promise<string | null>;
  set(coordinator: string, jobKey: string): Promise<void>;
}

/** Pins are per origin: `/api/job` and `http://host/` name the same coordinator. */
export function coordinatorOrigin(coordinator: string | URL): string {
  return new URL(coordinator).origin;
}

/**
 * Fetches and verifies the listing against the pinned key — `jobKey` when given (and pinned from then
 * on), else the key pinned for this coordinator, else the key it serves now, pinned for next time.
 */
export async function fetchPinnedJob(
  coordinator: string | URL,
  pins: JobKeyPins,
  jobKey?: string,
  opts: { signal?: AbortSignal } = {},
): Promise<VerifiedListing> {
  const origin = coordinatorOrigin(coordinator);
  const pinnedKey = jobKey ?? (await pins.get(origin)) ?? undefined;
  const listing = await fetchJob(coordinator, { ...(pinnedKey !== undefined ? { pinnedKey } : {}), ...opts });
  if (pinnedKey === undefined || jobKey !== undefined) await pins.set(origin, listing.manifest.jobKey);
  return listing;
}

/** Pins held in memory (tests; a volunteer without storage pins for one session only). */
export function memoryPins(initial: JobKeyPinsRecord = {}): JobKeyPins & { record: JobKeyPinsRecord } {
  const record = { ...initial };
  return {
    record,
    get: async (c) => record[c] ?? null,
    set: async (c, key) => void (record[c] = key),
  };
}
