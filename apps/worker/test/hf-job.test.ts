/**
 * A job that brings a Hugging Face tokenizer, on loopback with real processes: the coordinator serves the
 * tokenizer files the manifest names (by hash) and refuses to start with files that are not those; a
 * worker fetches and verifies them, trains on its text as BPE ids and closes a round; slimswarm-generate
 * streams text through the same tokenizer; and a client refuses a served file that is not the job's.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchTokenizer, VolunteerEvent } from '@slimswarm/client';
import { CoordinatorEvent } from '@slimswarm/coordinator';
import { HfTokenizer, ModelConfig } from '@slimswarm/performer';
import { TINY_BPE_TEXT, tinyBpe } from '@slimswarm/performer/test/tiny-bpe';
import type { JobManifest } from '@slimswarm/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerateEvent } from '../src/generate-events.js';
import { MODEL, writeJob } from './jobs.js';
import { is, run, start, type Child } from './processes.js';

const bpe = tinyBpe();
const tokenizer = new HfTokenizer(bpe.files);
/** A few rows beyond the tokenizer's ids, as real checkpoints pad their vocabulary. */
const HF_MODEL = ModelConfig.parse({ ...MODEL, vocabSize: bpe.vocabSize + 11 });

let dir = '';
let job: Awaited<ReturnType<typeof writeJob>>;
let paths = { tokenizer: '', config: '' };
let coordinator: Child<CoordinatorEvent> | null = null;
let worker: Child<VolunteerEvent> | null = null;
let url = '';

const coordinatorArgs = (tokenizerPath: string) => [
  ...['--port', '0', '--json', '--base', job.base, '--manifest', job.manifestPath, '--job-key', job.key],
  ...['--tokenizer', tokenizerPath, '--tokenizer-config', paths.config],
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slimswarm-hf-'));
  job = await writeJob(dir, { name: 'hf-tokenizer-test', model: HF_MODEL, tokenizer: bpe.spec });
  paths = { tokenizer: join(dir, 'tokenizer.json'), config: join(dir, 'tokenizer_config.json') };
  await writeFile(paths.tokenizer, bpe.files.tokenizer);
  await writeFile(paths.config, bpe.files.config);
  coordinator = start(CoordinatorEvent, 'apps/coordinator/src/main.ts', coordinatorArgs(paths.tokenizer));
  url = (await coordinator.waitFor(is<CoordinatorEvent, 'listening'>('listening'))).http;
  const data = join(dir, 'data.txt');
  await writeFile(data, TINY_BPE_TEXT.repeat(60));
  worker = start(VolunteerEvent, 'apps/worker/src/main.ts', [
    ...['--coordinator', url, '--data', data, '--json', '--threads', '1'],
    ...['--checkpoint-dir', join(dir, 'worker')],
  ]);
  await worker.waitFor(is<VolunteerEvent, 'checkpoint'>('checkpoint', (e) => e.round >= 1));
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await coordinator?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 30_000);

describe('a job with a Hugging Face tokenizer', () => {
  it('serves each tokenizer file by its hash, cacheable for good', async () => {
    for (const [role, file] of [
      ['tokenizer', bpe.spec.tokenizer],
      ['config', bpe.spec.config!],
    ] as const) {
      const res = await fetch(new URL(`/api/tokenizer/${file.sha256}`, url));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/immutable/);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bpe.files[role]);
    }
    expect((await fetch(new URL(`/api/tokenizer/${'0'.repeat(64)}`, url))).status).toBe(404);
  });

  it('generates from the shared model, prompt and text through the job’s tokenizer', async () => {
    const out = await run('apps/worker/src/generate-main.ts', [
      ...['--coordinator', url, '--prompt', 'The fox', '--max-tokens', '24', '--seed', '3', '--json'],
    ]);
    expect(out.code, out.stderr).toBe(0);
    const events = out.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => GenerateEvent.parse(JSON.parse(l)));
    const ids = events.filter(is<GenerateEvent, 'token'>('token')).map((t) => t.token);
    const done = events.find(is<GenerateEvent, 'done'>('done'))!;
    expect(ids).toHaveLength(24);
    // Merged BPE tokens were sampled, so a byte decode would differ; the text is the job tokenizer's.
    expect(ids.some((id) => id >= 256 && tokenizer.has(id))).toBe(true);
    const stream = tokenizer.textStream();
    expect(done.text).toBe(ids.map((id) => stream.push(id)).join('') + stream.end());
  }, 120_000);

  it('a coordinator given another tokenizer.json than the manifest names refuses to start', async () => {
    const tampered = bpe.files.tokenizer.slice();
    tampered[tampered.length - 3]! ^= 1;
    const path = join(dir, 'tampered.json');
    await writeFile(path, tampered);
    const out = await run('apps/coordinator/src/main.ts', coordinatorArgs(path));
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/TokenizerFileError: --tokenizer .*tampered\.json is \d+ bytes with SHA-256/);
  }, 30_000);

  it('a client refuses a served tokenizer file that is not the one the manifest names', async () => {
    const tampered = bpe.files.tokenizer.slice();
    tampered[tampered.length - 3]! ^= 1;
    // The config file is served as it is, so the refusal is the tokenizer's own.
    const spec = job.manifest.tokenizer;
    const configPath = spec.kind === 'hf' && spec.config ? `/api/tokenizer/${spec.config.sha256}` : null;
    const server = createServer((req, res) =>
      res.end(req.url === configPath ? bpe.files.config : tampered),
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const manifest: JobManifest = job.manifest;
      await expect(fetchTokenizer(`http://127.0.0.1:${port}/`, manifest)).rejects.toMatchObject({
        name: 'TokenizerFileMismatchError',
        file: 'tokenizer',
      });
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
