/**
 * A signed job: the manifest and the job key's Ed25519 signature over it. Whoever hands a volunteer the
 * job — the coordinator, a proxy, a mirror — cannot change any field of it (the model, the base's hash,
 * the aggregation rule, the admission policy) without the job key; and since the job id ends with the
 * key's fingerprint, a job signed by another key is another job. Clients pin the key (trust on first use,
 * or given by the operator) so a coordinator that later serves another key's job is refused.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { JobKeyMismatchError, JobSignatureError, SchemaViolationError } from './errors.js';
import { canonicalJson } from './hash.js';
import { SignatureHex, jobKeyOf } from './job-key.js';
import { describeIssues } from './json-bounds.js';
import { JobManifest } from './messages.js';

export const SignedJob = z.object({ manifest: JobManifest, signature: SignatureHex }).strict();
export type SignedJob = z.infer<typeof SignedJob>;

const utf8 = new TextEncoder();

/**
 * What the job key signs: a domain tag (so no other signed slimswarm message is ever a valid job
 * signature) and the canonical JSON of the manifest with its defaults filled in (so a manifest that spells
 * out a default and one that leaves it out sign alike).
 */
export function jobSigningBytes(manifest: JobManifest): Uint8Array {
  return utf8.encode(`slimswarm/job-signature/v1\n${canonicalJson(manifest)}`);
}

/** Signs `manifest` with the job's secret key (32-byte Ed25519 seed), which must be the manifest's jobKey. */
export function signJob(manifest: z.input<typeof JobManifest>, secretKey: Uint8Array): SignedJob {
  const parsed = parseManifest(manifest);
  const publicKey = jobKeyOf(secretKey);
  if (publicKey !== parsed.jobKey) {
    throw new JobKeyMismatchError(
      `the secret key is not job ${parsed.jobId}'s key`,
      parsed.jobKey,
      publicKey,
    );
  }
  return { manifest: parsed, signature: bytesToHex(ed25519.sign(jobSigningBytes(parsed), secretKey)) };
}

/**
 * Checks a signed job from anywhere (an HTTP answer, a file) and returns its manifest. Throws
 * SchemaViolationError when it is not a signed job with a valid manifest, JobSignatureError when the
 * signature is missing or does not verify under the manifest's own key, and JobKeyMismatchError when that
 * key is not `pinnedKey`.
 */
export function verifySignedJob(input: unknown, opts: { pinnedKey?: string } = {}): JobManifest {
  if (typeof input !== 'object' || input === null) throw new SchemaViolationError('not a signed job');
  const record = input as { manifest?: unknown; signature?: unknown };
  const manifest = parseManifest(record.manifest);
  const signature = SignatureHex.safeParse(record.signature);
  if (!signature.success) throw new JobSignatureError(`job ${manifest.jobId} carries no valid signature`);
  const strict = SignedJob.safeParse(input);
  if (!strict.success) throw new SchemaViolationError(`not a signed job: ${describeIssues(strict.error)}`);
  if (opts.pinnedKey !== undefined && opts.pinnedKey !== manifest.jobKey) {
    throw new JobKeyMismatchError(
      `job ${manifest.jobId} is signed by key ${manifest.jobKey}, not the pinned key ${opts.pinnedKey}`,
      opts.pinnedKey,
      manifest.jobKey,
    );
  }
  let valid = false;
  try {
    valid = ed25519.verify(
      hexToBytes(signature.data),
      jobSigningBytes(manifest),
      hexToBytes(manifest.jobKey),
    );
  } catch {
    valid = false; // a key that is not a curve point verifies nothing
  }
  if (!valid) throw new JobSignatureError(`job ${manifest.jobId}'s signature does not verify under its key`);
  return manifest;
}

function parseManifest(input: unknown): JobManifest {
  const parsed = JobManifest.safeParse(input);
  if (!parsed.success)
    throw new SchemaViolationError(`invalid job manifest: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
