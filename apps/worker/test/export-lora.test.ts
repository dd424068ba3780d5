/**
 * slimswarm-export with a LoRA checkpoint (adapters + the base's hash): written as adapters.safetensors,
 * or with --merged --base as the full export folder whose weights are W + s·A·B; the base is checked by
 * hash, and --merged on full weights is refused.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  initAdapters,
  initParams,
  initTrainable,
  paramShapes,
  ModelConfig,
  type Checkpoint,
} from '@slimswarm/performer';
import { readExportedModel } from '@slimswarm/performer/node';
import { LoraConfig, encodeSafetensors, f32Tensor, sha256Hex } from '@slimswarm/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS_FILE, runExport } from '../src/export.js';
import { parseExportArgs } from '../src/export-options.js';

const MODEL = ModelConfig.parse({
  dModel: 12,
  nLayers: 1,
  nHeads: 3,
  nFeatures: 5,
  vocabSize: 256,
  mlpRatio: 2,
  seed: 21,
});
const LORA = LoraConfig.parse({ factors: 'b', rank: 3, alpha: 6, targets: ['v', 'down'] });

describe('slimswarm-export of a LoRA checkpoint', () => {
  let dir: string;
  let ckpt: Checkpoint;
  const signal = new AbortController().signal;
  const args = (...more: string[]) =>
    parseExportArgs(['--checkpoint', join(dir, 'lora.safetensors'), ...more]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-export-lora-'));
    const base = initParams(MODEL);
    const shapes = paramShapes(MODEL);
    const baseBytes = encodeSafetensors(
      Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, f32Tensor(s, base[n]!)])),
    );
    await writeFile(join(dir, 'base.safetensors'), baseBytes);
    await writeFile(
      join(dir, 'other.safetensors'),
      encodeSafetensors({ x: f32Tensor([1], Float32Array.of(1)) }),
    );
    const adapters = initTrainable(MODEL, LORA);
    for (const b of Object.values(adapters)) for (let i = 0; i < b.length; i++) b[i] = Math.sin(i + b.length);
    ckpt = {
      config: MODEL,
      params: adapters,
      step: 7,
      featureEpoch: 0,
      lora: { config: LORA, baseSha256: sha256Hex(baseBytes) },
    };
    await writeFile(join(dir, 'lora.safetensors'), encodeCheckpoint(ckpt));
    await writeFile(
      join(dir, 'full.safetensors'),
      encodeCheckpoint({ config: MODEL, params: base, step: 0, featureEpoch: 0 }),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the adapters and the base hash, not the base', async () => {
    const out = join(dir, 'adapters');
    const done = await runExport(args('--out', out), signal);
    expect(done.files).toEqual([ADAPTERS_FILE]);
    const back = decodeCheckpoint(new Uint8Array(await readFile(join(out, ADAPTERS_FILE))), {
      lora: ckpt.lora!,
    });
    expect(back).toEqual(ckpt);
  });

  it('with --merged and --base writes the full folder: W + (alpha / rank) · A B', async () => {
    const out = join(dir, 'merged');
    const done = await runExport(
      args('--out', out, '--merged', '--base', join(dir, 'base.safetensors')),
      signal,
    );
    expect(done.files).toContain('model.safetensors');
    const { params } = await readExportedModel(out);
    const base = initParams(MODEL);
    // Independently: the adapted down projection [24, 12] and an untouched matrix.
    const a = initAdapters(MODEL, LORA)['blocks.0.mlp.w2.lora_a']!; // [24, 3]
    const b = ckpt.params['blocks.0.mlp.w2.lora_b']!; // [3, 12]
    const w = base['blocks.0.mlp.w2']!;
    let worst = 0;
    for (let i = 0; i < 24; i++)
      for (let j = 0; j < 12; j++) {
        let dot = 0;
        for (let k = 0; k < 3; k++) dot += a[i * 3 + k]! * b[k * 12 + j]!;
        worst = Math.max(
          worst,
          Math.abs(params['blocks.0.mlp.w2']![i * 12 + j]! - (w[i * 12 + j]! + 2 * dot)),
        );
      }
    expect(worst).toBeLessThan(1e-6);
    expect(params['blocks.0.attn.wq']).toEqual(base['blocks.0.attn.wq']);
  });

  it('refuses a missing or wrong base, and --merged on full weights', async () => {
    await expect(runExport(args('--out', join(dir, 'x'), '--merged'), signal)).rejects.toMatchObject({
      name: 'LoraBaseMissingError',
    });
    await expect(
      runExport(args('--out', join(dir, 'y'), '--merged', '--base', join(dir, 'other.safetensors')), signal),
    ).rejects.toMatchObject({ name: 'BaseHashMismatchError' });
    const full = parseExportArgs([
      '--checkpoint',
      join(dir, 'full.safetensors'),
      '--out',
      join(dir, 'z'),
      '--merged',
    ]);
    await expect(runExport(full, signal)).rejects.toMatchObject({ name: 'InvalidOptionError' });
  });
});
