import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  JobListing,
  JobManifest,
  SignedJob,
  jobFingerprint,
  jobIdFor,
  sha256Hex,
  signJob,
  verifySignedJob,
} from '../src/index.js';
import { jobManifest } from './arbitraries.js';
import { errorName } from './helpers.js';

function keyPair() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, jobKey: bytesToHex(ed25519.getPublicKey(secretKey)) };
}

/** A sampled manifest rebound to a real key (the arbitrary's keys are random hex, not curve points). */
function manifestFor(jobKey: string, seed = 1): JobManifest {
  const [m] = fc.sample(jobManifest, { numRuns: 1, seed });
  return JobManifest.parse({ ...m!, jobKey, jobId: jobIdFor('job', jobKey) });
}

/** Every leaf of a JSON value, as a path, and a copy of the value with that leaf changed. */
function tamperedCopies(value: unknown, path: string[] = []): { path: string; copy: unknown }[] {
  const change = (leaf: unknown): unknown => {
    if (typeof leaf === 'number') return Number.isInteger(leaf) ? leaf + 1 : leaf / 2;
    if (typeof leaf === 'boolean') return !leaf;
    if (typeof leaf === 'string')
      return leaf.length > 0 ? leaf.slice(0, -1) + (leaf.endsWith('0') ? '1' : '0') : 'x';
    return 'x';
  };
  if (value === null || typeof value !== 'object') return [{ path: path.join('.'), copy: change(value) }];
  return Object.entries(value).flatMap(([k, v]) =>
    tamperedCopies(v, [...path, k]).map(({ path, copy }) => ({
      path,
      copy: Array.isArray(value)
        ? value.map((x, i) => (String(i) === k ? copy : x))
        : { ...value, [k]: copy },
    })),
  );
}

describe('job ids are bound to the job key', () => {
  it('jobIdFor appends the first 12 hex characters of SHA-256 of the raw key', () => {
    const { jobKey } = keyPair();
    const fp = sha256Hex(Uint8Array.from(Buffer.from(jobKey, 'hex'))).slice(0, 12);
    expect(jobFingerprint(jobKey)).toBe(fp);
    expect(jobIdFor('slimswarm-default', jobKey)).toBe(`slimswarm-default-${fp}`);
  });

  it('the schema refuses a job id not bound to the manifest key', () => {
    const a = keyPair();
    const b = keyPair();
    const m = manifestFor(a.jobKey);
    expect(JobManifest.safeParse({ ...m, jobId: 'job' }).success).toBe(false);
    expect(JobManifest.safeParse({ ...m, jobId: jobIdFor('job', b.jobKey) }).success).toBe(false);
    expect(JobManifest.safeParse({ ...m, jobKey: b.jobKey }).success).toBe(false);
  });
});

describe('signed jobs', () => {
  it('a signed job verifies, also after a JSON round trip and inside a listing', () => {
    const { secretKey, jobKey } = keyPair();
    const signed = signJob(manifestFor(jobKey), secretKey);
    expect(verifySignedJob(signed)).toEqual(signed.manifest);
    expect(verifySignedJob(JSON.parse(JSON.stringify(signed)), { pinnedKey: jobKey })).toEqual(
      signed.manifest,
    );
    const listing = JobListing.parse({ job: signed, coordinatorPeerId: 'p', bootstrap: [], iceServers: [] });
    expect(verifySignedJob(listing.job)).toEqual(signed.manifest);
  });

  it('any changed field of the manifest is refused', () => {
    const { secretKey, jobKey } = keyPair();
    for (const seed of [1, 2, 3]) {
      const signed = signJob(manifestFor(jobKey, seed), secretKey);
      const copies = tamperedCopies(signed.manifest);
      expect(copies.length).toBeGreaterThan(30);
      for (const { path, copy } of copies) {
        const name = errorName(() => verifySignedJob({ ...signed, manifest: copy }));
        expect(['JobSignatureError', 'SchemaViolationError'], path).toContain(name);
      }
    }
  });

  it('a manifest re-signed by another key is refused against the pinned key, even with a matching id', () => {
    const honest = keyPair();
    const other = keyPair();
    const m = manifestFor(honest.jobKey);
    const forged = signJob(
      { ...m, jobKey: other.jobKey, jobId: jobIdFor('job', other.jobKey) },
      other.secretKey,
    );
    expect(verifySignedJob(forged).jobKey).toBe(other.jobKey); // valid on its own: another job
    expect(errorName(() => verifySignedJob(forged, { pinnedKey: honest.jobKey }))).toBe(
      'JobKeyMismatchError',
    );
  });

  it('a missing, malformed or foreign signature is a JobSignatureError; a non-job a SchemaViolationError', () => {
    const a = keyPair();
    const b = keyPair();
    const m = manifestFor(a.jobKey);
    const signed = signJob(m, a.secretKey);
    expect(errorName(() => verifySignedJob({ manifest: m }))).toBe('JobSignatureError');
    expect(errorName(() => verifySignedJob({ manifest: m, signature: 'zz' }))).toBe('JobSignatureError');
    const bySomeoneElse = bytesToHex(ed25519.sign(Uint8Array.of(1), b.secretKey));
    expect(errorName(() => verifySignedJob({ manifest: m, signature: bySomeoneElse }))).toBe(
      'JobSignatureError',
    );
    expect(errorName(() => verifySignedJob({ ...signed, extra: 1 }))).toBe('SchemaViolationError');
    expect(errorName(() => verifySignedJob(null))).toBe('SchemaViolationError');
    expect(errorName(() => signJob(m, b.secretKey))).toBe('JobKeyMismatchError');
    expect(SignedJob.safeParse(signed).success).toBe(true);
  });
});
