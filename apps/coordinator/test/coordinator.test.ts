import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BASE_PATH } from '@slimswarm/default-job/job';
import { JobListing, sha256Hex } from '@slimswarm/protocol';
import { readFile } from 'node:fs/promises';
import { startCoordinator, type Coordinator } from '../src/coordinator.js';
import { CoordinatorStats } from '../src/events.js';
import { BaseCheckpointError, InvalidManifestError, loadJob } from '../src/published-job.js';
import { parseCoordinatorArgs, InvalidOptionError } from '../src/options.js';
import { resolveInside } from '../src/http.js';

describe('coordinator', () => {
  let dir: string;
  let coordinator: Coordinator;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-coord-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>tab</title>');
    coordinator = await startCoordinator({
      ...parseCoordinatorArgs(['--port', '0', '--json']),
      webDir: dir,
      dashboardDir: join(dir, 'missing'),
    });
  });
  afterAll(async () => {
    await coordinator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes a valid job whose base checkpoint hashes to what the manifest names', async () => {
    const res = await fetch(new URL('/api/job', coordinator.http.url));
    const listing = JobListing.parse(await res.json());
    expect(listing.bootstrap.some((a) => a.includes('/ws/p2p/'))).toBe(true);
    expect(listing.coordinatorPeerId).toBe(coordinator.peer.peerId.toString());
    // No STUN servers unless the operator names some: tabs then use host candidates only.
    expect(listing.iceServers).toEqual([]);
    const base = new Uint8Array(
      await (await fetch(new URL('/api/base', coordinator.http.url))).arrayBuffer(),
    );
    expect(sha256Hex(base)).toBe(listing.manifest.baseCheckpoint.sha256);
    expect(base.byteLength).toBe(listing.manifest.baseCheckpoint.bytes);
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

  it('refuses a missing or malformed base checkpoint', async () => {
    await expect(loadJob({ basePath: join(dir, 'none.safetensors') })).rejects.toThrow(BaseCheckpointError);
    await writeFile(join(dir, 'bad.safetensors'), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await expect(loadJob({ basePath: join(dir, 'bad.safetensors') })).rejects.toThrow(BaseCheckpointError);
  });

  it('refuses a manifest that names another base', async () => {
    const { manifest } = await loadJob({ basePath: DEFAULT_BASE_PATH });
    const other = { ...manifest, baseCheckpoint: { ...manifest.baseCheckpoint, sha256: 'f'.repeat(64) } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(other));
    await expect(
      loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath: join(dir, 'manifest.json') }),
    ).rejects.toThrow(InvalidManifestError);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const ok = await loadJob({ basePath: DEFAULT_BASE_PATH, manifestPath: join(dir, 'manifest.json') });
    expect(ok.base).toEqual(new Uint8Array(await readFile(DEFAULT_BASE_PATH)));
  });

  it('rejects bad flags by name', () => {
    expect(() => parseCoordinatorArgs(['--port', 'eighty'])).toThrow(InvalidOptionError);
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
