/** The client's boundary: a signed job against a pinned key, the base against the signed hash, the stamp. */
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  PROTOCOL_LIMITS,
  jobIdFor,
  jobKeyOf,
  signJob,
  verifyAdmission,
  type AdmissionStamp,
  type BodyTooLargeError,
  type JobListing,
  type SignedJob,
} from '@slimswarm/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { obtainStamp, requestTicket, type StoredStamp } from '../src/admission.js';
import { fetchBase, fetchJob, fetchTokenizer } from '../src/fetch-job.js';
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

describe('a hostile coordinator', () => {
  /**
   * Answers every path with a body that never ends (64 KiB writes, chunked, as fast as the client reads),
   * or with `declared` as its Content-Length and no body at all. `closed` lists, per request, the body
   * bytes it had sent when the client hung up; `closes(n)` resolves once n requests were closed.
   */
  async function hostile(declared?: number) {
    const closed: number[] = [];
    const events = new EventEmitter();
    const closes = async (n: number) => {
      while (closed.length < n) await once(events, 'closed');
    };
    const server = createServer((_req, res) => {
      let sent = 0;
      res.on('close', () => {
        closed.push(sent);
        events.emit('closed');
      });
      if (declared !== undefined)
        return void res.writeHead(200, { 'content-length': String(declared) }).flushHeaders();
      const chunk = new Uint8Array(64 << 10).fill(1);
      const pump = (): void => {
        while (!res.destroyed && sent < 256 << 20) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closed, closes };
  }

  const refused = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: BodyTooLargeError) => ({ name: e.name, bytes: e.bytes, maxBytes: e.maxBytes }),
    );

  it('cannot make a peer buffer more than the listing cap, the base or a tokenizer file allows', async () => {
    const base = baseCheckpoint();
    const manifest = manifestFor(base);
    const tokenizerFile = { sha256: 'a'.repeat(64), bytes: 3000 };
    const hf = { ...manifest, tokenizer: { kind: 'hf' as const, tokenizer: tokenizerFile } };
    const { url, closed, closes } = await hostile();
    const cases = [
      [fetchJob(url), PROTOCOL_LIMITS.maxApiJsonBytes],
      [fetchBase(url, manifest), base.byteLength],
      [fetchTokenizer(url, hf), tokenizerFile.bytes],
      [requestTicket(url, 'peer-a', 'invite'), PROTOCOL_LIMITS.maxApiJsonBytes],
    ] as const;
    for (const [fetching, max] of cases) {
      const e = await refused(fetching);
      expect(e).toMatchObject({ name: 'BodyTooLargeError', maxBytes: max });
      // Refused at the read that crossed the limit: at most one socket read (64 KiB) beyond it.
      expect(e!.bytes).toBeLessThanOrEqual(max + (64 << 10));
    }
    // Every connection was closed by the client, long before the 256 MiB the server would have sent.
    await closes(cases.length);
    for (const sent of closed) expect(sent).toBeLessThan(32 << 20);
  });

  it('refuses a base whose Content-Length is longer than the manifest says, reading none of it', async () => {
    const base = baseCheckpoint();
    const { url, closes } = await hostile(base.byteLength + 1);
    const e = await refused(fetchBase(url, manifestFor(base)));
    expect(e).toEqual({ name: 'BodyTooLargeError', bytes: base.byteLength + 1, maxBytes: base.byteLength });
    await closes(1); // the client hung up
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
