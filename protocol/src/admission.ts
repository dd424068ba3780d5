/**
 * Admission: what a peer id must show before the swarm counts it. Peer ids are free to make, so without
 * a price one machine could appear as a majority (heartbeats, summaries, deltas). A job admits either
 * anyone who paid a proof of work bound to (job, peer id) — `open` — or only peers holding a ticket the
 * job key signed for their peer id — `invite`. Both proofs are bound to the peer id, so a stamp cannot be
 * lent to another identity, and both verify without any state (a PoW check is one SHA-256).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { JobKeyMismatchError } from './errors.js';
import { SignatureHex, jobKeyOf } from './job-key.js';

/** Highest PoW difficulty a manifest may ask for (2^40 hashes is days of a CPU: never a price to join). */
export const MAX_DIFFICULTY_BITS = 40;

export const AdmissionPolicy = z.discriminatedUnion('mode', [
  z
    .object({ mode: z.literal('open'), difficultyBits: z.number().int().min(0).max(MAX_DIFFICULTY_BITS) })
    .strict(),
  z.object({ mode: z.literal('invite') }).strict(),
]);
export type AdmissionPolicy = z.infer<typeof AdmissionPolicy>;

/** 8 bytes of PoW nonce, lower-case hex. */
export const NonceHex = z.string().regex(/^[0-9a-f]{16}$/, 'expected 8 bytes of lower-case hex');

export const AdmissionStamp = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pow'), nonce: NonceHex }).strict(),
  z.object({ kind: z.literal('ticket'), signature: SignatureHex }).strict(),
]);
export type AdmissionStamp = z.infer<typeof AdmissionStamp>;

/** What of a manifest admission needs (structural, so this file does not depend on messages.ts). */
export interface AdmissionJob {
  jobId: string;
  jobKey: string;
  admission: AdmissionPolicy;
}

const utf8 = new TextEncoder();

/** The PoW preimage without its nonce: a domain tag, then the job and the peer the work is bound to. */
function powPrefix(jobId: string, peerId: string): Uint8Array {
  return utf8.encode(`slimswarm/admission-pow/v1\n${jobId}\n${peerId}\n`);
}

/** What the job key signs in a ticket. */
export function ticketSigningBytes(jobId: string, peerId: string): Uint8Array {
  return utf8.encode(`slimswarm/admission-ticket/v1\n${jobId}\n${peerId}`);
}

/** Whether `digest` starts with at least `bits` zero bits. */
function hasLeadingZeroBits(digest: Uint8Array, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (digest[i] !== 0) return false;
  const rest = bits & 7;
  return rest === 0 || digest[full]! >> (8 - rest) === 0;
}

/** Whether `stamp` admits `peerId` to `job`: a PoW of the job's difficulty (open jobs) or a job-key ticket. */
export function verifyAdmission(job: AdmissionJob, peerId: string, stamp: AdmissionStamp): boolean {
  try {
    if (stamp.kind === 'pow') {
      if (job.admission.mode !== 'open') return false;
      const prefix = powPrefix(job.jobId, peerId);
      const digest = sha256.create().update(prefix).update(hexToBytes(stamp.nonce)).digest();
      return hasLeadingZeroBits(digest, job.admission.difficultyBits);
    }
    return ed25519.verify(
      hexToBytes(stamp.signature),
      ticketSigningBytes(job.jobId, peerId),
      hexToBytes(job.jobKey),
    );
  } catch {
    return false; // a malformed hex string or key: not admitted
  }
}

export interface MintOptions {
  signal?: AbortSignal;
  /** Hashes between yields to the event loop (default 16384, ~10–30 ms: a tab's worker stays responsive). */
  yieldEvery?: number;
}

/**
 * Searches nonces 0, 1, 2, … until SHA-256(prefix ‖ nonce) has `difficultyBits` leading zero bits: 2^d
 * hashes expected. Synchronous hashing in batches, yielding between them; rejects with the signal's reason
 * when aborted.
 */
export async function mintStamp(
  jobId: string,
  peerId: string,
  difficultyBits: number,
  opts: MintOptions = {},
): Promise<AdmissionStamp> {
  const bits = z.number().int().min(0).max(MAX_DIFFICULTY_BITS).parse(difficultyBits);
  // The prefix's hash state is computed once and cloned per nonce: a third fewer compressions per try.
  const prefixed = sha256.create().update(powPrefix(jobId, peerId));
  const nonce = new Uint8Array(8);
  const counter = new DataView(nonce.buffer);
  const batch = Math.max(1, opts.yieldEvery ?? 16_384);
  for (let hi = 0; ; hi++) {
    counter.setUint32(0, hi);
    for (let lo = 0; lo <= 0xffff_ffff; lo++) {
      if (lo % batch === 0) {
        opts.signal?.throwIfAborted();
        if (lo > 0 || hi > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      counter.setUint32(4, lo);
      if (hasLeadingZeroBits(prefixed.clone().update(nonce).digest(), bits)) {
        return { kind: 'pow', nonce: bytesToHex(nonce) };
      }
    }
  }
}

/** The job key's ticket for `peerId` (invite jobs; also admits to open ones). `secretKey`: 32-byte seed. */
export function issueTicket(job: AdmissionJob, peerId: string, secretKey: Uint8Array): AdmissionStamp {
  const publicKey = jobKeyOf(secretKey);
  if (publicKey !== job.jobKey) {
    throw new JobKeyMismatchError(`the secret key is not job ${job.jobId}'s key`, job.jobKey, publicKey);
  }
  return {
    kind: 'ticket',
    signature: bytesToHex(ed25519.sign(ticketSigningBytes(job.jobId, peerId), secretKey)),
  };
}

/** What a page asks a worker that mints for it (the tab's mint worker, apps/web). */
export const MintRequest = z
  .object({
    jobId: z.string().min(1),
    peerId: z.string().min(1),
    difficultyBits: z.number().int().min(0).max(MAX_DIFFICULTY_BITS),
  })
  .strict();
export type MintRequest = z.infer<typeof MintRequest>;
