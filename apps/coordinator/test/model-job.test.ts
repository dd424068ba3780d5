import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobListing, decodeSafetensors, jobIdFor, sha256Hex, verifySignedJob } from '@slimswarm/protocol';
import { FIXTURE_TOKENIZER, hfFixture, writeHfFixture } from '@slimswarm/hf-import/fixtures';
import { importHfFolder } from '@slimswarm/hf-import/node';
import { startCoordinator, type Coordinator } from '../src/coordinator.js';
import { ephemeralJobKey } from '../src/job-key.js';
import { parseCoordinatorArgs } from '../src/options.js';
import { InvalidManifestError, loadJob } from '../src/published-job.js';

describe('a job built from a Hugging Face model folder (--model)', () => {
  let dir: string;
  let qwen: string;
  let gpt2: string;
  let coordinator: Coordinator;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-model-job-'));
    qwen = join(dir, 'Qwen2.5-tiny');
    gpt2 = join(dir, 'gpt2-tiny');
    await writeHfFixture(qwen, hfFixture('qwen2', { dtype: 'BF16' }), { shards: 2 });
    await writeHfFixture(gpt2, hfFixture('gpt2', { dtype: 'F16' }));
    const flags = [
      '--port',
      '0',
      '--model',
      qwen,
      '--features',
      '16',
      '--seq-len',
      '64',
      '--chunk-size',
      '16',
      '--local-steps',
      '2',
    ];
    coordinator = await startCoordinator({
      ...parseCoordinatorArgs([...flags, '--seed', '7']),
      webDir: dir,
      dashboardDir: dir,
    });
  });
  afterAll(async () => {
    await coordinator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the folder as a signed manifest and a base checkpoint of its weights', async () => {
    const listing = JobListing.parse(await (await fetch(new URL('/api/job', coordinator.http.url))).json());
    const manifest = verifySignedJob(listing.job, { pinnedKey: listing.job.manifest.jobKey });
    const imported = await importHfFolder(qwen, { nFeatures: 16, seed: 7 });
    expect(manifest.jobId).toBe(jobIdFor('Qwen2.5-tiny', manifest.jobKey));
    expect(manifest.model).toEqual(imported.config);
    expect(manifest.model).toMatchObject({
      nFeatures: 16,
      nKvHeads: 1,
      norm: 'rmsnorm',
      mlp: 'swiglu',
      seed: 7,
    });
    expect(manifest.tokenizer).toEqual({
      kind: 'hf',
      tokenizer: {
        sha256: sha256Hex(FIXTURE_TOKENIZER.tokenizer),
        bytes: FIXTURE_TOKENIZER.tokenizer.length,
      },
      config: { sha256: sha256Hex(FIXTURE_TOKENIZER.config), bytes: FIXTURE_TOKENIZER.config.length },
    });
    expect(manifest.training).toMatchObject({ seqLen: 64, chunkSize: 16, localSteps: 2 });

    const base = new Uint8Array(
      await (await fetch(new URL('/api/base', coordinator.http.url))).arrayBuffer(),
    );
    expect(sha256Hex(base)).toBe(manifest.baseCheckpoint.sha256);
    const { tensors } = decodeSafetensors(base);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(imported.params).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(t.data, name).toEqual(new Uint8Array(imported.params[name]!.buffer));
    }
  });

  it('carries the tokenizer files beside the base for peers to fetch', async () => {
    const job = await loadJob({ basePath: 'unused', key: ephemeralJobKey(), model: { dir: qwen } });
    expect(job.tokenizerFiles).toEqual(
      new Map([
        [sha256Hex(FIXTURE_TOKENIZER.tokenizer), FIXTURE_TOKENIZER.tokenizer],
        [sha256Hex(FIXTURE_TOKENIZER.config), FIXTURE_TOKENIZER.config],
      ]),
    );
    // Defaults: 64 features, the default job's sequence length and chunk.
    expect([
      job.manifest.model.nFeatures,
      job.manifest.training.seqLen,
      job.manifest.training.chunkSize,
    ]).toEqual([64, 2048, 256]);
  });

  it('trains a model with learned positions on sequences it has positions for', async () => {
    const key = ephemeralJobKey();
    const job = await loadJob({ basePath: 'unused', key, model: { dir: gpt2 } });
    expect(job.manifest.training.seqLen).toBe(24);
    await expect(loadJob({ basePath: 'unused', key, model: { dir: gpt2, seqLen: 25 } })).rejects.toThrow(
      InvalidManifestError,
    );
  });

  it('refuses flags that conflict with --model or mean nothing without it', () => {
    expect(() => parseCoordinatorArgs(['--features', '16'])).toThrow(/--features needs --model/);
    expect(() => parseCoordinatorArgs(['--model', qwen, '--manifest', 'm.json'])).toThrow(
      /without --base, --manifest, --tokenizer and --tokenizer-config/,
    );
    expect(() => parseCoordinatorArgs(['--model', qwen, '--base', 'b.safetensors'])).toThrow(
      /without --base/,
    );
    expect(() => parseCoordinatorArgs(['--model', qwen, '--seq-len', 'long'])).toThrow(/--seq-len/);
    expect(() => parseCoordinatorArgs(['--lora', '8'])).toThrow(/--lora needs --model/);
    expect(() => parseCoordinatorArgs(['--model', qwen, '--lora-alpha', '4'])).toThrow(/need --lora <rank>/);
    expect(() => parseCoordinatorArgs(['--model', qwen, '--lora', '8', '--lora-targets', 'q,x'])).toThrow(
      /lora/,
    );
  });

  it('makes a LoRA job of the folder: the base frozen, rank-r adapters on the chosen matrices', async () => {
    const options = parseCoordinatorArgs([
      '--model',
      qwen,
      '--lora',
      '4',
      '--lora-targets',
      'q,v,gate',
      '--lr',
      '1e-4',
    ]);
    const job = await loadJob({
      basePath: options.base,
      key: ephemeralJobKey(),
      model: { dir: qwen, lora: options.lora, lr: options.lr },
    });
    expect(job.manifest.training.lora).toEqual({
      factors: 'b',
      rank: 4,
      alpha: 8,
      targets: ['q', 'v', 'gate'],
    });
    expect(job.manifest.training.inner.lr).toBe(1e-4);
    // The base checkpoint is the imported model itself, as for full fine-tuning: the adapters start
    // from the seed on every peer and are never in it.
    const full = await loadJob({ basePath: options.base, key: ephemeralJobKey(), model: { dir: qwen } });
    expect(job.manifest.baseCheckpoint).toEqual(full.manifest.baseCheckpoint);
  });
});
