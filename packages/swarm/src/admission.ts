/**
 * Who the swarm counts. Every heartbeat, summary and delta header carries its sender's admission stamp
 * (protocol admission.ts); a peer id whose stamp does not verify for the job is not counted as active,
 * its summaries are not stored (nor pulled from) and its deltas are refused as `not-admitted`. Verified
 * peer ids are cached with their stamp, so a ticket's Ed25519 signature (≈5 ms in pure JS) is checked once
 * per peer, not once per message; the cache is bounded (least recently used out) so a flood of fresh peer
 * ids costs memory no more than it costs work.
 */
import {
  mintStamp,
  verifyAdmission,
  type AdmissionJob,
  type AdmissionStamp,
  type JobManifest,
} from '@slimswarm/protocol';
import { NotAdmittedError } from './errors.js';

/** Admitted peer ids remembered; well above any swarm's size, so evictions only hit a flood of newcomers. */
export const ADMITTED_CAP = 4096;

/** What the verdicts need of admission: whether `stamp` admits `peer` (checked once, then remembered). */
export interface AdmissionCheck {
  admits(peer: string, stamp: AdmissionStamp): boolean;
}

export class AdmittedPeers implements AdmissionCheck {
  /** peer id → the stamp that admitted it (canonical string); Map order is the LRU order. */
  private readonly admitted = new Map<string, string>();

  constructor(
    private readonly job: AdmissionJob,
    private readonly cap = ADMITTED_CAP,
  ) {}

  admits(peer: string, stamp: AdmissionStamp): boolean {
    const key = stamp.kind === 'pow' ? `pow:${stamp.nonce}` : `ticket:${stamp.signature}`;
    const known = this.admitted.get(peer);
    if (known === key) {
      this.admitted.delete(peer);
      this.admitted.set(peer, key);
      return true;
    }
    if (!verifyAdmission(this.job, peer, stamp)) return false;
    this.admitted.delete(peer);
    this.admitted.set(peer, key);
    if (this.admitted.size > this.cap) this.admitted.delete(this.admitted.keys().next().value!);
    return true;
  }

  /** Whether `peer` showed a valid stamp recently (the resync rule's votes count only those). */
  isAdmitted(peer: string): boolean {
    return this.admitted.has(peer);
  }

  get size(): number {
    return this.admitted.size;
  }
}

/** This peer's stamp and the admitted peers it judges others by: what liveness and anti-entropy share. */
export interface JobAdmission {
  readonly stamp: AdmissionStamp;
  readonly peers: AdmittedPeers;
}

/**
 * This peer's stamp for the job: `given` when it admits `selfId`, else, in an open job, one minted now
 * (2^difficultyBits hashes: production clients mint once and store it with their identity). Throws
 * NotAdmittedError for a stamp that does not verify and for an invite job joined without a ticket.
 */
export async function ownStamp(
  manifest: JobManifest,
  selfId: string,
  given?: AdmissionStamp,
  signal?: AbortSignal,
): Promise<AdmissionStamp> {
  if (given) {
    if (!verifyAdmission(manifest, selfId, given))
      throw new NotAdmittedError(`the admission stamp given does not admit ${selfId} to ${manifest.jobId}`);
    return given;
  }
  if (manifest.admission.mode !== 'open')
    throw new NotAdmittedError(`${manifest.jobId} admits invited peers only: pass a ticket`);
  return mintStamp(manifest.jobId, selfId, manifest.admission.difficultyBits, signal ? { signal } : {});
}
