/** The client's boundary: a signed job against a pinned key, the base against the signed hash, the stamp. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  jobIdFor,
  jobKeyOf,
  signJob,
  verifyAdmission,
  type AdmissionStamp,
  type JobListing,
  type SignedJob,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { obtainStamp, type StoredStamp } from '../src/admission.js';
import { fetchBase, fetchJob } from '../src/fetch-job.js';
import { fetchPinnedJob, memoryPins } from '../src/job-pin.js';
import { JOB_KEY, baseCheckpoint, manifestFor, signedJobFor } from './fixtures.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A coordinator stand-in whose listing and base the test swaps. */
async function serve(state: { job: SignedJob | unknown; base: Uint8Array }): Promise<string> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/base') return res.end(state.base);
    const listing = { job: state.job, coordinatorPeerId: 'c', bootstrap: [], iceServers: [] };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(listing satisfies Omit<JobListing, 'job'> & { job: unknown }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function failure(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: Error) => e.name,
  );
}

describe('fetching a job', () => {
  it('accepts a signed job and pins its key on first use; a job re-signed by another key is refused', async () => {
    const base = baseCheckpoint();
    const state = { job: signedJobFor(base) as unknown, base };
    const url = await serve(state);
    const pins = memoryPins();
    const listing = await fetchPinnedJob(`${url}/some/page`, pins);
    expect(listing.manifest.jobKey).toBe(JOB_KEY);
    expect(pins.record).toEqual({ [url]: JOB_KEY });
    // The coordinator now serves the same job under another key (its id rebound to that key).
    const other = new Uint8Array(32).fill(6);
    const m = manifestFor(base);
    state.job = signJob(
      { ...m, jobKey: jobKeyOf(other), jobId: jobIdFor('client-test', jobKeyOf(other)) },
      other,
    );
    expect(await failure(fetchPinnedJob(url, pins))).toBe('JobKeyMismatchError');
    expect(await failure(fetchPinnedJob(url, memoryPins(), JOB_KEY))).toBe('JobKeyMismatchError');
    // Without a pin it is a valid job of its own (another id, so other topics): nothing to confuse.
    expect((await fetchJob(url)).manifest.jobKey).toBe(jobKeyOf(other));
  });

  it('refuses a rewritten manifest, and a base that is not the one the signed manifest names', async () => {
    const base = baseCheckpoint();
    const signed = signedJobFor(base);
    const state = { job: signed as unknown, base };
    const url = await serve(state);
    state.job = {
      ...signed,
      manifest: { ...signed.manifest, aggregation: { rule: 'mean', normBound: 1e9 } },
    };
    expect(await failure(fetchJob(url))).toBe('JobSignatureError');
    state.job = { manifest: signed.manifest };
    expect(await failure(fetchJob(url))).toBe('JobSignatureError');
    state.job = signed;
    const { manifest } = await fetchJob(url);
    state.base = Uint8Array.from(base, (b, i) => (i === base.length - 1 ? b ^ 1 : b));
    expect(await failure(fetchBase(url, manifest))).toBe('BaseHashMismatchError');
  });
});

describe('admission stamps', () => {
  it('mints once, stores the stamp with the identity, and reuses it; an invite job needs a ticket', async () => {
    const manifest = manifestFor(baseCheckpoint());
    let saved: StoredStamp | null = null;
    let mints = 0;
    const store = { load: async () => saved, save: async (s: StoredStamp) => void (saved = s) };
    const mint = async (jobId: string, peerId: string, bits: number): Promise<AdmissionStamp> => {
      mints++;
      const { mintStamp } = await import('@slimswarm/protocol');
      return mintStamp(jobId, peerId, bits);
    };
    const o = { manifest, peerId: 'peer-a', coordinator: 'http://127.0.0.1:1', store, mint };
    const stamp = await obtainStamp(o);
    expect(verifyAdmission(manifest, 'peer-a', stamp)).toBe(true);
    expect(await obtainStamp(o)).toEqual(stamp);
    expect(mints).toBe(1);
    // Another identity does not reuse it.
    await obtainStamp({ ...o, peerId: 'peer-b' });
    expect(mints).toBe(2);
    const invite = { ...manifest, admission: { mode: 'invite' as const } };
    expect(await failure(obtainStamp({ ...o, manifest: invite, store: undefined }))).toBe(
      'AdmissionRequiredError',
    );
  });
});
