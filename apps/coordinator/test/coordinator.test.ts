import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BASE_PATH } from '@slimswarm/default-job/job';
import {
  JobListing,
  TicketGrant,
  jobIdFor,
  sha256Hex,
  verifyAdmission,
  verifySignedJob,
} from '@slimswarm/protocol';
import { ephemeralJobKey, loadJobKey, loadOrCreateJobKey } from '../src/job-key.js';
import { issueTicketFromCli, parseTicketArgs } from '../src/ticket-cli.js';
import { readFile, stat } from 'node:fs/promises';
import { startCoordinator, type Coordinator } from '../src/coordinator.js';
import { CoordinatorStats } from '../src/events.js';
import {
  BaseCheckpointError,
  InvalidManifestError,
  TokenizerFileError,
  loadJob,
} from '../src/published-job.js';
import { parseCoordinatorArgs, InvalidOptionError } from '../src/options.js';
import { resolveInside } from '../src/http.js';

describe('coordinator', () => {
  let dir: string;
  let coordinator: Coordinator;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-coord-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>tab</title>');
    await writeFile(join(dir, 'invites.txt'), '# one per volunteer\nalpha\nbeta\n');
    const flags = ['--port', '0', '--json', '--job-key', join(dir, 'job.key')];
    coordinator = await startCoordinator({
      ...parseCoordinatorArgs([...flags, '--invite-codes', join(dir, 'invites.txt')]),
      webDir: dir,
      dashboardDir: join(dir, 'missing'),
    });
  });
  afterAll(async () => {
    await coordinator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes a job signed by its key file, whose base checkpoint hashes to what the manifest names', async () => {
    const res = await fetch(new URL('/api/job', coordinator.http.url));
    const listing = JobListing.parse(await res.json());
    const key = await loadJobKey(join(dir, 'job.key'));
    const manifest = verifySignedJob(listing.job, { pinnedKey: key.publicKey });
    expect(manifest.jobId).toBe(jobIdFor('slimswarm-default', key.publicKey));
    expect(manifest.admission).toEqual({ mode: 'invite' });
    expect((await stat(join(dir, 'job.key'))).mode & 0o777).toBe(0o600);
    expect(listing.bootstrap.some((a) => a.includes('/ws/p2p/'))).toBe(true);
    expect(listing.coordinatorPeerId).toBe(coordinator.peer.peerId.toString());
    // No STUN servers unless the operator names some: tabs then use host candidates only.
    expect(listing.iceServers).toEqual([]);
    const base = new Uint8Array(
      await (await fetch(new URL('/api/base', coordinator.http.url))).arrayBuffer(),
    );
    expect(sha256Hex(base)).toBe(manifest.baseCheckpoint.sha256);
    expect(base.byteLength).toBe(manifest.baseCheckpoint.bytes);
  });

  it('trades each invite code once for a ticket admitting the peer id it names', async () => {
    const peerId = coordinator.peer.peerId.toString();
    const ask = (body: unknown) =>
      fetch(new URL('/api/ticket', coordinator.http.url), { method: 'POST', body: JSON.stringify(body) });
    const granted = await ask({ peerId, invite: 'alpha' });
    expect(granted.status).toBe(200);
    const grant = TicketGrant.parse(await granted.json());
    expect(verifyAdmission(coordinator.manifest, peerId, grant.ticket)).toBe(true);
    expect(verifyAdmission(coordinator.manifest, '12D3KooWother', grant.ticket)).toBe(false);
    expect((await ask({ peerId, invite: 'alpha' })).status).toBe(403); // used
    expect((await ask({ peerId, invite: 'gamma' })).status).toBe(403); // never issued
    expect((await ask({ peerId: 'not base58!', invite: 'beta' })).status).toBe(400);
    expect((await ask({ peerId, invite: 'beta', extra: 1 })).status).toBe(400);
    // The used code is struck from the file, so a restart does not revive it.
    expect(await readFile(join(dir, 'invites.txt'), 'utf8')).toBe('beta\n');
    // The operator's CLI issues the same kind of ticket from the key file.
    const cli = await issueTicketFromCli(
      parseTicketArgs(['--job-key', join(dir, 'job.key'), '--peer', peerId]),
    );
    expect(cli.jobId).toBe(coordinator.manifest.jobId);
    expect(verifyAdmission(coordinator.manifest, peerId, cli.ticket)).toBe(true);
    await expect(
      issueTicketFromCli(parseTicketArgs(['--job-key', join(dir, 'none.key'), '--peer', peerId])),
    ).rejects.toThrow(/no job key/);
  });

  it('reports its counters: no replica, so nothing merged or accepted', async () => {
    const stats = CoordinatorStats.parse(
      await (await fetch(new URL('/api/stats', coordinator.http.url))).json(),
    );
    expect(stats.swarm).toEqual({ accepted: 0, roundsClosed: 0, resyncs: 0 });
    expect(stats.relayed.deltas).toBe(0);
  });

  it('serves pages cross-origin isolated (threads for onnxruntime-web) and 404s what is missing', async () => {
    const page = await fetch(coordinator.http.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect((await fetch(new URL('/dashboard/', coordinator.http.url))).status).toBe(404);
    expect((await fetch(new URL('/api/job', coordinator.http.url), { method: 'POST' })).status).toBe(405);
    expect((await fetch(new URL('/api/ticket', coordinator.http.url))).status).toBe(404);
  });

  it('never resolves a path outside the served folder', () => {
    expect(resolveInside('/srv/web', '/../etc/passwd')).toBe('/srv/web/etc/passwd');
    expect(resolveInside('/srv/web', '/%2e%2e/%2e%2e/etc/passwd')).toBe('/srv/web/etc/passwd');
    expect(resolveInside('/srv/web', '/%E0%A4%A')).toBeUndefined();
    expect(resolveInside('/srv/web', '/a%00b')).toBeUndefined();
  });
});

describe('job loading and flags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-job-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const key = ephemeralJobKey();

  it('refuses a missing or malformed base checkpoint', async () => {
    await expect(loadJob({ basePath: join(dir, 'none.safetensors'), key })).rejects.toThrow(
      BaseCheckpointError,
    );
    await writeFile(join(dir, 'bad.safetensors'), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await expect(loadJob({ basePath: join(dir, 'bad.safetensors'), key })).rejects.toThrow(
      BaseCheckpointError,
    );
  });

  it('keeps the job key across restarts and refuses a key file that is not one', async () => {
    const path = join(dir, 'kept.key');
    const first = await loadOrCreateJobKey(path);
    expect((await loadOrCreateJobKey(path)).publicKey).toBe(first.publicKey);
    await writeFile(join(dir, 'bad.key'), 'not a key\n');
    await expect(loadOrCreateJobKey(join(dir, 'bad.key'))).rejects.toThrow(/job key/);
  });

  it('refuses a manifest that names another base or another job key', async () => {
    const { manifest } = await loadJob({ basePath: DEFAULT_BASE_PATH, key });
    const other = { ...manifest, baseCheckpoint: { ...manifest.baseCheckpoint, sha256: 'f'.repeat(64) } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(other));
    const manifestPath = join(dir, 'manifest.json');
    await expect(loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key })).rejects.toThrow(
      InvalidManifestError,
    );
    await writeFile(manifestPath, JSON.stringify(manifest));
    const ok = await loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key });
    // Compared whole, not with toEqual: a deep diff of 12.9 MB element by element takes minutes.
    expect(Buffer.from(ok.base).equals(await readFile(DEFAULT_BASE_PATH))).toBe(true);
    expect(verifySignedJob(ok.signed, { pinnedKey: key.publicKey })).toEqual(manifest);
    await expect(
      loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key: ephemeralJobKey() }),
    ).rejects.toThrow(InvalidManifestError);
  });

  it('holds the tokenizer files an hf manifest names, by hash, and refuses any other', async () => {
    const { manifest } = await loadJob({ basePath: DEFAULT_BASE_PATH, key });
    // The coordinator checks bytes against the manifest only; parsing a tokenizer is the peers' part.
    const files = { tokenizer: join(dir, 'tokenizer.json'), config: join(dir, 'tokenizer_config.json') };
    const bytes = { tokenizer: Buffer.from('{"model":{"type":"BPE"}}'), config: Buffer.from('{}') };
    await writeFile(files.tokenizer, bytes.tokenizer);
    await writeFile(files.config, bytes.config);
    const named = (b: Buffer) => ({ sha256: sha256Hex(b), bytes: b.byteLength });
    const manifestPath = join(dir, 'hf-manifest.json');
    const hf = { kind: 'hf', tokenizer: named(bytes.tokenizer), config: named(bytes.config) };
    await writeFile(manifestPath, JSON.stringify({ ...manifest, tokenizer: hf }));
    const job = await loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath, key, tokenizer: files });
    expect([...job.tokenizerFiles.keys()].sort()).toEqual([hf.tokenizer.sha256, hf.config.sha256].sort());
    expect(Buffer.from(job.tokenizerFiles.get(hf.tokenizer.sha256)!).equals(bytes.tokenizer)).toBe(true);

    const load = (tokenizer: { tokenizer?: string; config?: string }, path = manifestPath) =>
      loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath: path, key, tokenizer });
    await expect(load({ config: files.config })).rejects.toThrow(/give --tokenizer$/);
    await expect(load({ tokenizer: files.config, config: files.config })).rejects.toThrow(TokenizerFileError);
    await expect(load({ tokenizer: join(dir, 'none.json'), config: files.config })).rejects.toThrow(
      TokenizerFileError,
    );
    // A byte job names no files: one given is a mistake, not something to serve.
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(load({ tokenizer: files.tokenizer }, join(dir, 'manifest.json'))).rejects.toThrow(
      /names no such file/,
    );
  });

  it('rejects bad flags by name', () => {
    expect(() => parseCoordinatorArgs(['--port', 'eighty'])).toThrow(InvalidOptionError);
    expect(parseCoordinatorArgs([]).difficulty).toBe(20);
    expect(parseCoordinatorArgs(['--difficulty', '8']).difficulty).toBe(8);
    expect(() => parseCoordinatorArgs(['--difficulty', '41'])).toThrow(/--difficulty/);
    expect(() => parseCoordinatorArgs(['--listen', 'tcp:4001'])).toThrow(/--listen/);
    expect(() => parseCoordinatorArgs(['--ice-servers', 'https://stun.example.org'])).toThrow(
      /--ice-servers/,
    );
  });

  it('lists the STUN/TURN servers it is given for WebRTC between tabs', () => {
    const options = parseCoordinatorArgs([
      '--ice-servers',
      'stun:stun.example.org:3478',
      '--ice-servers',
      'turn:turn.example.org',
    ]);
    expect(options.iceServers).toEqual([
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'turn:turn.example.org' },
    ]);
  });
});
