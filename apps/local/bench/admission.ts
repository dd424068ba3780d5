// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * What an admission stamp costs (docs/swarm-protocol.md "Admission"): the time to mint one proof-of-work
 * stamp for a fresh peer id at the default job's difficulty, in Node and in a real Chromium page (the
 * same protocol code, bundled), and the time to verify one. Prints one JSON line per runtime:
 *
 *   { bench: 'admission', runtime: 'node'|'chromium', difficultyBits, mints, mintMsMedian, mintMsP90, verifyUs }
 *
 *   node --conditions=@slimswarm/source --import tsx apps/local/bench/admission.ts [--quick] [--bits N] [--mints N]
 *
 * Minting takes 2^d hashes on average (geometric: the median is ln 2 of the mean, the p90 ln 10), so the
 * spread over peer ids is the point, not noise. `--quick`: 6 peer ids per runtime.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { z } from 'zod';
import { DEFAULT_DIFFICULTY_BITS } from '@slimswarm/default-job/job';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { jobIdFor, mintStamp, verifyAdmission, type AdmissionStamp } from '@slimswarm/protocol';

const JOB_KEY = '3b'.repeat(32);
const JOB_ID = jobIdFor('slimswarm-default', JOB_KEY);
const VERIFY_RUNS = 20_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

const Flags = z.object({
  quick: z.boolean(),
  bits: z.number().int().min(0).max(30),
  mints: z.number().int().min(1),
});

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function row(runtime: 'node' | 'chromium', bits: number, ms: number[], verifyUs: number) {
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    bench: 'admission',
    runtime,
    difficultyBits: bits,
    mints: ms.length,
    mintMsMedian: round(quantile(sorted, 0.5)),
    mintMsP90: round(quantile(sorted, 0.9)),
    verifyUs: round(verifyUs),
  };
}

/** Mean microseconds per verifyAdmission of `stamp` (one SHA-256 and the zero-bit test). */
function verifyMicros(peer: string, stamp: AdmissionStamp, bits: number): number {
  const job = { jobId: JOB_ID, jobKey: JOB_KEY, admission: { mode: 'open' as const, difficultyBits: bits } };
  const t0 = performance.now();
  for (let i = 0; i < VERIFY_RUNS; i++)
    if (!verifyAdmission(job, peer, stamp)) throw new Error('stamp refused');
  return ((performance.now() - t0) * 1000) / VERIFY_RUNS;
}

async function nodeRow(bits: number, peers: string[]) {
  const ms: number[] = [];
  let last: AdmissionStamp | null = null;
  for (const peer of peers) {
    const t0 = performance.now();
    last = await mintStamp(JOB_ID, peer, bits);
    ms.push(performance.now() - t0);
  }
  return row('node', bits, ms, verifyMicros(peers.at(-1)!, last!, bits));
}

/** The same mintStamp, bundled for the page, run in a real Chromium on its main thread (yielding). */
async function chromiumRow(bits: number, peers: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'slimswarm-admission-'));
  const entry = join(dir, 'entry.ts');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    entry,
    `import { mintStamp, verifyAdmission } from '@slimswarm/protocol';\n` +
      `Object.assign(globalThis, { mintStamp, verifyAdmission });\n`,
  );
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    // Our packages from their TypeScript sources (no dist/ needed).
    conditions: ['@slimswarm/source'],
    absWorkingDir: process.cwd(),
    nodePaths: [join(process.cwd(), 'node_modules')],
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
    const result = await page.evaluate(
      async ({ jobId, jobKey, peers, bits, runs }) => {
        const g = globalThis as unknown as {
          mintStamp: (j: string, p: string, b: number) => Promise<unknown>;
          verifyAdmission: (job: unknown, p: string, s: unknown) => boolean;
        };
        const ms: number[] = [];
        let stamp: unknown = null;
        for (const peer of peers) {
          const t0 = performance.now();
          stamp = await g.mintStamp(jobId, peer, bits);
          ms.push(performance.now() - t0);
        }
        const job = { jobId, jobKey, admission: { mode: 'open', difficultyBits: bits } };
        const t0 = performance.now();
        for (let i = 0; i < runs; i++) g.verifyAdmission(job, peers.at(-1)!, stamp);
        return { ms, verifyUs: ((performance.now() - t0) * 1000) / runs };
      },
      { jobId: JOB_ID, jobKey: JOB_KEY, peers, bits, runs: VERIFY_RUNS },
    );
    return row('chromium', bits, result.ms, result.verifyUs);
  } finally {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const program = new Command('bench:admission')
  .option('--quick', 'a few peer ids per runtime', false)
  .option('--bits <n>', 'difficulty (default: the default job’s)', String(DEFAULT_DIFFICULTY_BITS))
  .option('--mints <n>', 'peer ids per runtime (default 24, quick 6)');
const flags = parseCommandLineOrExit(program, process.argv.slice(2), Flags, (raw) => ({
  quick: raw.quick,
  bits: Number(raw.bits),
  mints: raw.mints !== undefined ? Number(raw.mints) : raw.quick ? 6 : 24,
}));
// Peer ids as libp2p writes them; any distinct strings give independent searches.
const peers = Array.from({ length: flags.mints }, (_, i) => `12D3KooWBench${String(i).padStart(4, '0')}`);
for (const make of [nodeRow, chromiumRow]) console.log(JSON.stringify(await make(flags.bits, peers)));
