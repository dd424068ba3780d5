/**
 * The job's Ed25519 key, as the manifest names it: lower-case hex of the raw 32-byte public key. The job
 * id ends with the key's fingerprint, so a job id names exactly one key and two operators who pick the
 * same title still run two jobs (two sets of topics) instead of fighting over one.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';

/** Raw Ed25519 public key (32 bytes), lower-case hex. */
export const JobKeyHex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex Ed25519 public key');
export type JobKeyHex = z.infer<typeof JobKeyHex>;

/** An Ed25519 signature (64 bytes), lower-case hex. */
export const SignatureHex = z.string().regex(/^[0-9a-f]{128}$/, 'expected a hex Ed25519 signature');

/** Hex characters of the key digest a job id ends with: 48 bits, far beyond chance collisions of titles. */
export const JOB_FINGERPRINT_HEX = 12;

/** First 12 hex characters of SHA-256 of the raw 32-byte key. */
export function jobFingerprint(jobKey: string): string {
  return bytesToHex(sha256(hexToBytes(JobKeyHex.parse(jobKey)))).slice(0, JOB_FINGERPRINT_HEX);
}

/** The job id bound to `jobKey`: `name-<fingerprint>`. */
export function jobIdFor(name: string, jobKey: string): string {
  return `${name}-${jobFingerprint(jobKey)}`;
}

/** The job key (public, hex) of a 32-byte Ed25519 secret seed. */
export function jobKeyOf(secretKey: Uint8Array): string {
  return bytesToHex(ed25519.getPublicKey(secretKey));
}

/** Whether `jobId` is bound to `jobKey` (ends with `-` and its fingerprint). */
export function jobIdMatchesKey(jobId: string, jobKey: string): boolean {
  return JobKeyHex.safeParse(jobKey).success && jobId.endsWith(`-${jobFingerprint(jobKey)}`);
}
