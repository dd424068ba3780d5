/**
 * A volunteer's admission stamp (protocol admission.ts): minted once for its peer id and the job, kept
 * beside its identity (the worker in a file, the tab in IndexedDB), and reused on every start, so the
 * proof of work is paid once per identity. An invite job's ticket is asked for with an invite code
 * (`POST /api/ticket`) or given by the operator.
 */
import {
  AdmissionStamp,
  JobId,
  PROTOCOL_LIMITS,
  TicketGrant,
  isProtocolError,
  mintStamp,
  readBoundedJson,
  verifyAdmission,
  type JobManifest,
  type MintOptions,
} from '@slimswarm/protocol';
import { z } from 'zod';

/** What `POST /api/ticket` and `slimswarm-coordinator ticket` hand out (re-exported for the shells). */
export { TicketGrant };

/** The job admits invited peers only and no ticket or invite code was given, or the ones given fail. */
export class AdmissionRequiredError extends Error {
  static override name = 'AdmissionRequiredError';
  override name = 'AdmissionRequiredError';
}

export const StoredStamp = z
  .object({ jobId: JobId, peerId: z.string().min(1).max(128), stamp: AdmissionStamp })
  .strict();
export type StoredStamp = z.infer<typeof StoredStamp>;

/** Where the stamp is kept with the identity it was minted for. */
export interface StampStore {
  load(): Promise<StoredStamp | null>;
  save(stamp: StoredStamp): Promise<void>;
}

/** Mints a PoW stamp: mintStamp itself, or the same run off the page thread (the tab's compute worker). */
export type MintFn = (
  jobId: string,
  peerId: string,
  bits: number,
  opts: MintOptions,
) => Promise<AdmissionStamp>;

export interface ObtainStampOptions {
  manifest: JobManifest;
  peerId: string;
  coordinator: string | URL;
  store?: StampStore;
  /** A ticket the operator issued (slimswarm-coordinator ticket). */
  ticket?: AdmissionStamp;
  /** An invite code, traded for a ticket at the coordinator. */
  invite?: string;
  mint?: MintFn;
  signal?: AbortSignal;
}

/** The stamp admitting `peerId` to the job: stored, given, asked for with an invite, or minted now. */
export async function obtainStamp(o: ObtainStampOptions): Promise<AdmissionStamp> {
  const { manifest, peerId } = o;
  const admits = (stamp: AdmissionStamp) => verifyAdmission(manifest, peerId, stamp);
  const stored = await o.store?.load();
  if (stored && stored.jobId === manifest.jobId && stored.peerId === peerId && admits(stored.stamp))
    return stored.stamp;
  let stamp: AdmissionStamp;
  if (o.ticket) stamp = o.ticket;
  else if (o.invite !== undefined) stamp = await requestTicket(o.coordinator, peerId, o.invite);
  else if (manifest.admission.mode === 'open') {
    const mint = o.mint ?? mintStamp;
    stamp = await mint(
      manifest.jobId,
      peerId,
      manifest.admission.difficultyBits,
      o.signal ? { signal: o.signal } : {},
    );
  } else
    throw new AdmissionRequiredError(
      `${manifest.jobId} admits invited peers only: give a ticket or an invite code`,
    );
  if (!admits(stamp))
    throw new AdmissionRequiredError(`the ticket does not admit ${peerId} to ${manifest.jobId}`);
  await o.store?.save({ jobId: manifest.jobId, peerId, stamp });
  return stamp;
}

/** Trades an invite code for a ticket at the coordinator. */
export async function requestTicket(
  coordinator: string | URL,
  peerId: string,
  invite: string,
): Promise<AdmissionStamp> {
  let res: Response;
  try {
    res = await fetch(new URL('/api/ticket', coordinator), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ peerId, invite }),
    });
  } catch (e) {
    throw new AdmissionRequiredError(
      `cannot reach ${String(coordinator)} for a ticket: ${(e as Error).message}`,
    );
  }
  // An answer too long to read is named (BodyTooLargeError); any other unreadable one is no ticket.
  const body: unknown = await readBoundedJson(res, PROTOCOL_LIMITS.maxApiJsonBytes, 'ticket').catch(
    (e: unknown) => {
      if (isProtocolError(e)) throw e;
      return null;
    },
  );
  const grant = TicketGrant.safeParse(body);
  if (!res.ok || !grant.success || grant.data.peerId !== peerId)
    throw new AdmissionRequiredError(
      `the coordinator gave no ticket (${res.status}): ${JSON.stringify(body)}`,
    );
  return grant.data.ticket;
}
