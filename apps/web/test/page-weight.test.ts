/**
 * What the volunteer tab weighs, in Chromium against the real coordinator: the bytes it receives over
 * HTTP (page and workers, from DevTools network events: network-tally.ts) and the time to its `ready`
 * event (joined the swarm with its engine loaded), on a first visit (a fresh profile) and a repeat visit
 * (the same profile, reloaded). Headless Chromium with --disable-gpu has no WebGPU adapter, so the tab
 * must fetch onnxruntime's wasm-only build, brotli-compressed, and nothing of the WebGPU one; a repeat
 * visit must come from the cache, revalidating what is not content-hashed.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '@slimswarm/local';
import { readPretrainCorpus } from '@slimswarm/default-job';
import type { BrowserContext } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { VOLUNTEER_EVENT } from '../src/page-events.js';
import { pageSuite } from './harness.js';
import { NetworkTally, type Fetched } from './network-tally.js';

/** Issue #17's targets: a first visit without WebGPU, and a repeat visit. */
const FIRST_VISIT_MAX_BYTES = 8_000_000;
const REPEAT_VISIT_MAX_BYTES = 200_000;
const WEB_DIST = join(REPO_ROOT, 'apps', 'web', 'dist');
const READY_BINDING = '__slimswarmReadyAt';

const suite = pageSuite();
let data = '';

beforeAll(async () => {
  data = join(suite.dir, 'tab.txt');
  const english = new TextDecoder().decode((await readPretrainCorpus()).heldOut.subarray(0, 24_000));
  await writeFile(data, english);
});

/** Runs in every page: reports the page's `ready` volunteer event, at its time since navigation start. */
function reportReady([event, binding]: [string, string]): void {
  addEventListener(event, (e) => {
    if ((e as CustomEvent<{ event?: string }>).detail.event !== 'ready') return;
    (globalThis as unknown as Record<string, (ms: number) => void>)[binding]!(performance.now());
  });
}

/** The times of the `ready` events to come, in order (one per visit). */
async function readyTimes(context: BrowserContext): Promise<() => Promise<number>> {
  const waiting: ((ms: number) => void)[] = [];
  const arrived: number[] = [];
  await context.exposeBinding(READY_BINDING, (_source, ms: number) => {
    const next = waiting.shift();
    if (next) next(ms);
    else arrived.push(ms);
  });
  await context.addInitScript(reportReady, [VOLUNTEER_EVENT, READY_BINDING] as [string, string]);
  return () => {
    const early = arrived.shift();
    return early !== undefined ? Promise.resolve(early) : new Promise((ok) => waiting.push(ok));
  };
}

/** The file of the web build a URL names, when it is one (the coordinator serves the build at `/`). */
function distFile(url: string): string | undefined {
  const path = new URL(url).pathname;
  if (path.startsWith('/api/') || path.startsWith('/dashboard/')) return undefined;
  return join(WEB_DIST, path === '/' ? 'index.html' : path);
}

/**
 * Checks the tally against what the coordinator sent: every body that came over the wire fits in the
 * bytes counted for it (with its headers), and a compressed one is the build's twin file, byte for byte.
 */
async function checkAgainstFiles(requests: readonly Fetched[]): Promise<void> {
  for (const r of requests) {
    if (r.fromCache || r.status !== 200 || r.contentLength === undefined) continue;
    expect(r.encodedBytes, r.url).toBeGreaterThanOrEqual(r.contentLength);
    // Headers (the CSP is the longest) are well under 2 KB.
    expect(r.encodedBytes - r.contentLength, r.url).toBeLessThan(2048);
    const file = distFile(r.url);
    if (file === undefined) continue;
    const suffix = r.contentEncoding === 'br' ? '.br' : r.contentEncoding === 'gzip' ? '.gz' : '';
    expect((await stat(file + suffix)).size, r.url).toBe(r.contentLength);
  }
}

/** When the last of the build's files (the ORT wasm, on a first visit) had arrived, in ms. */
function assetsLoadedMs(requests: readonly Fetched[]): number {
  const assets = requests.filter((r) => new URL(r.url).pathname.startsWith('/assets/'));
  return Math.round(Math.max(0, ...assets.map((r) => r.finishedMs)));
}

function breakdown(requests: readonly Fetched[]): string {
  return requests
    .map(
      (r) =>
        `${r.status}${r.fromCache ? ' (cache)' : ''} ${r.encodedBytes} B ${r.contentEncoding ?? '-'} ` +
        `${new URL(r.url).pathname} at ${Math.round(r.finishedMs)} ms`,
    )
    .join('\n');
}

describe('the volunteer tab in Chromium', () => {
  it('loads in ≤ 8 MB on a first visit without WebGPU and ≤ 200 KB on a repeat one', async () => {
    const context = await suite.browser.newContext();
    const nextReady = await readyTimes(context);
    const page = await context.newPage();
    const tally = await NetworkTally.watch(context, page);

    await page.goto(suite.coordinator.listening.http);
    await page.setInputFiles('#files', data);
    await page.click('#start');
    const firstReadyMs = await nextReady();
    const first = [...tally.requests()];
    const firstVisitBytes = tally.bytes();

    tally.reset();
    // The tab resumes by itself (the files and the intent to train are in IndexedDB).
    await page.reload();
    const repeatReadyMs = await nextReady();
    const repeat = [...tally.requests()];
    const repeatVisitBytes = tally.bytes();

    console.log(`first visit:\n${breakdown(first)}\nrepeat visit:\n${breakdown(repeat)}`);
    console.log(
      JSON.stringify({
        firstVisitBytes,
        repeatVisitBytes,
        firstReadyMs: Math.round(firstReadyMs),
        repeatReadyMs: Math.round(repeatReadyMs),
        firstAssetsLoadedMs: assetsLoadedMs(first),
        repeatAssetsLoadedMs: assetsLoadedMs(repeat),
      }),
    );

    // No adapter: the wasm-only build, brotli-compressed, streaming-compilable; nothing of the JSEP build.
    expect(await page.textContent('#f-compute')).toMatch(/^wasm/);
    expect(first.filter((r) => r.url.includes('.jsep'))).toEqual([]);
    const wasm = first.filter((r) => new URL(r.url).pathname.endsWith('.wasm'));
    expect(wasm.map((r) => new URL(r.url).pathname)).toEqual([
      expect.stringMatching(/^\/assets\/ort-wasm-simd-threaded-[\w-]{8}\.wasm$/),
    ]);
    expect(wasm[0]!.contentEncoding).toBe('br');
    expect(wasm[0]!.contentType).toBe('application/wasm');
    // The workers' own scripts are counted too (Chromium reports them apart: see network-tally.ts).
    for (const worker of ['mint-worker', 'compute-worker-wasm']) {
      expect(first.filter((r) => r.url.includes(`/assets/${worker}-`) && r.status === 200)).toHaveLength(1);
    }
    await checkAgainstFiles(first);
    await checkAgainstFiles(repeat);
    // The repeat visit fetches no hashed asset again: each comes from the cache without a request.
    expect(repeat.filter((r) => new URL(r.url).pathname.startsWith('/assets/') && !r.fromCache)).toEqual([]);
    // index.html itself is revalidated: a 304, no body.
    expect(repeat.find((r) => new URL(r.url).pathname === '/')?.status).toBe(304);

    expect(firstVisitBytes).toBeLessThanOrEqual(FIRST_VISIT_MAX_BYTES);
    expect(repeatVisitBytes).toBeLessThanOrEqual(REPEAT_VISIT_MAX_BYTES);
  }, 240_000);
});
