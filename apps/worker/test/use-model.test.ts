/**
 * Using what the swarm learned, as users do it, on loopback: a real coordinator and a real worker (OS
 * processes) train a small job of the test's own; once the worker has merged a round,
 * `slimswarm-generate --coordinator` fetches the shared model — replayed from the worker's history, so
 * the very model the worker holds — and streams text from it; `--checkpoint` generates from the worker's
 * saved state; `slimswarm-export` writes the shared model's folder, which generate reads back.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorEvent } from '@slimswarm/coordinator';
import { VolunteerEvent } from '@slimswarm/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerateEvent } from '../src/generate-events.js';
import { writeJob } from './jobs.js';
import { is, run, start, type Child } from './processes.js';

const GENERATE = 'apps/worker/src/generate-main.ts';
const EXPORT = 'apps/worker/src/export-main.ts';

let dir = '';
let coordinator: Child<CoordinatorEvent> | null = null;
let worker: Child<VolunteerEvent> | null = null;
let url = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slimswarm-use-'));
  const job = await writeJob(dir, { name: 'use-model-test' });
  coordinator = start(CoordinatorEvent, 'apps/coordinator/src/main.ts', [
    ...['--port', '0', '--json', '--base', job.base, '--manifest', job.manifestPath, '--job-key', job.key],
  ]);
  url = (await coordinator.waitFor(is<CoordinatorEvent, 'listening'>('listening'))).http;
  const data = join(dir, 'data.txt');
  await writeFile(data, 'The swarm learns together; every volunteer keeps its own text. '.repeat(200));
  worker = start(VolunteerEvent, 'apps/worker/src/main.ts', [
    ...['--coordinator', url, '--data', data, '--json', '--threads', '1'],
    ...['--checkpoint-dir', join(dir, 'worker')],
  ]);
  // A merged round, saved: the swarm's model is now ahead of the base, and on the worker's disk.
  await worker.waitFor(is<VolunteerEvent, 'checkpoint'>('checkpoint', (e) => e.round >= 1));
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await coordinator?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 30_000);

/** The models the worker has held (each synced and merged round's hash). */
const workerModels = () =>
  new Set(
    worker!.events.flatMap((e) => (e.event === 'round' || e.event === 'synced' ? [e.modelSha256] : [])),
  );

const generateEvents = (stdout: string): GenerateEvent[] =>
  stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => GenerateEvent.parse(JSON.parse(l)));

describe('using the shared model', () => {
  it('generates from the swarm: the model the worker holds, replayed from its history', async () => {
    const out = await run(GENERATE, [
      ...['--coordinator', url, '--prompt', 'The swarm', '--max-tokens', '32', '--seed', '3', '--json'],
    ]);
    expect(out.code, out.stderr).toBe(0);
    const events = generateEvents(out.stdout);
    const model = events.find(is<GenerateEvent, 'model'>('model'))!;
    expect(model.origin).toMatch(/round [1-9]\d* \(replayed from peers\)/);
    expect(workerModels()).toContain(model.modelSha256);
    const tokens = events.filter(is<GenerateEvent, 'token'>('token'));
    const done = events.find(is<GenerateEvent, 'done'>('done'))!;
    expect(tokens).toHaveLength(32);
    expect(done).toMatchObject({ reason: 'maxTokens', tokens: 32 });
    expect(done.text).toBe(tokens.map((t) => t.text).join('') + done.tail);
    console.log(
      `slimswarm-generate --coordinator … --json (model and done lines):\n${JSON.stringify(model)}\n${JSON.stringify(done)}`,
    );
  }, 90_000);

  it("streams plain text from a worker's saved checkpoint, piece by piece", async () => {
    const out = await run(GENERATE, [
      ...[
        '--checkpoint',
        join(dir, 'worker'),
        '--prompt',
        'Grüße, swarm',
        '--max-tokens',
        '48',
        '--seed',
        '5',
      ],
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.startsWith('Grüße, swarm')).toBe(true);
    expect(out.stdout.length).toBeGreaterThan('Grüße, swarm'.length);
    // The text came as it was sampled, not all at the end.
    expect(out.chunks).toBeGreaterThan(1);
    expect(out.stderr).toMatch(/trainer\.safetensors \(step \d+\)/);
    expect(out.stderr).toMatch(/48 tokens .* ended: maxTokens/);
    console.log(`slimswarm-generate --checkpoint <worker dir>:\n${out.stderr}${out.stdout}`);
  }, 60_000);

  it('exports the shared model as a folder, written whole, that generate reads back', async () => {
    const out = join(dir, 'exported');
    const exported = await run(EXPORT, ['--coordinator', url, '--out', out, '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    const line = JSON.parse(exported.stdout) as { files: string[]; modelSha256: string; origin: string };
    expect(line.files).toEqual(['config.json', 'decoder_step.onnx', 'model.safetensors', 'tokenizer.json']);
    expect((await readdir(out)).sort()).toEqual(line.files);
    expect(workerModels()).toContain(line.modelSha256);
    // No half-written folder was left beside it, and an existing one is kept unless --force.
    expect((await readdir(dir)).filter((f) => f.startsWith('.exported'))).toEqual([]);
    const again = await run(EXPORT, ['--checkpoint', join(dir, 'worker'), '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ExportTargetExistsError: .* give --force/);
    const back = await run(GENERATE, [
      '--checkpoint',
      out,
      '--prompt',
      'The swarm',
      '--max-tokens',
      '8',
      '--json',
    ]);
    expect(back.code, back.stderr).toBe(0);
    const model = generateEvents(back.stdout).find(is<GenerateEvent, 'model'>('model'))!;
    expect(model.modelSha256).toBe(line.modelSha256);
    console.log(`slimswarm-export --coordinator … --json:\n${exported.stdout}`);
  }, 90_000);

  it('says which model a weights-only file is missing, and what is wrong with a flag', async () => {
    const base = join(dir, 'base.safetensors');
    const missing = await run(GENERATE, ['--checkpoint', base, '--prompt', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ModelConfigMissingError: .*give --config/);
    const fromBase = await run(GENERATE, [
      ...['--checkpoint', base, '--config', join(dir, 'job.json'), '--prompt', 'x', '--max-tokens', '4'],
    ]);
    expect(fromBase.code, fromBase.stderr).toBe(0);
    const bad = await run(GENERATE, ['--coordinator', url, '--prompt', 'x', '--top-p', '2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--top-p/);
    const both = await run(GENERATE, ['--coordinator', url, '--checkpoint', base, '--prompt', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --checkpoint <file\|dir> or --coordinator <url>/);
    expect(await readdir(dir)).toContain('worker');
  }, 60_000);
});
