import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelConfig, decodeSafetensors, encodeSafetensors, f32Tensor, sha256Hex } from '@slimswarm/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointSha256, decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/index.js';
import type { Checkpoint } from '../src/checkpoint/index.js';
import { readCheckpointFile, writeCheckpointFile } from '../src/checkpoint/node.js';
import { initParams, paramShapes } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';

const config = ModelConfig.parse({
  dModel: 8,
  nLayers: 2,
  nHeads: 2,
  nFeatures: 4,
  vocabSize: 19,
  mlpRatio: 2,
  seed: 9,
});

function randomLike(params: Params, label: string): Params {
  const rng = new Rng(1, label);
  return Object.fromEntries(
    Object.entries(params).map(([k, p]) => [k, Float32Array.from(p, () => rng.normal())]),
  );
}

function sample(): Checkpoint {
  const params = initParams(config);
  // bit patterns a lossy path would change: -0, a subnormal, the largest float32
  params['ln_f.bias']!.set([-0, 1e-45, 3.4028234663852886e38]);
  return {
    config,
    params,
    step: 1234,
    featureEpoch: 12,
    optimizer: { step: 1234, m: randomLike(params, 'm'), v: randomLike(params, 'v') },
  };
}

const bitsOf = (p: Params): Record<string, number[]> =>
  Object.fromEntries(
    Object.entries(p).map(([k, t]) => [k, [...new Uint32Array(t.buffer, t.byteOffset, t.length)]]),
  );

function expectSameCheckpoint(a: Checkpoint, b: Checkpoint): void {
  expect(b.config).toEqual(a.config);
  expect(b.step).toBe(a.step);
  expect(b.featureEpoch).toBe(a.featureEpoch);
  expect(bitsOf(b.params)).toEqual(bitsOf(a.params));
  expect(b.optimizer?.step).toBe(a.optimizer?.step);
  if (a.optimizer !== undefined) {
    expect(bitsOf(b.optimizer!.m)).toEqual(bitsOf(a.optimizer.m));
    expect(bitsOf(b.optimizer!.v)).toEqual(bitsOf(a.optimizer.v));
  }
}

/** The same content with the header JSON re-serialised with whitespace: valid safetensors, not canonical. */
function reformatHeader(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.stringify(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), null, 1);
  const json = new TextEncoder().encode(header.padEnd(Math.ceil(header.length / 8) * 8, ' '));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + n), 8 + json.length);
  return out;
}

describe('checkpoint encoding', () => {
  it('round-trips bit-exactly, with and without optimiser state, to the same canonical bytes', () => {
    const ckpt = sample();
    const bytes = encodeCheckpoint(ckpt);
    const back = decodeCheckpoint(bytes, { config, sha256: sha256Hex(bytes) });
    expectSameCheckpoint(ckpt, back);
    expect(encodeCheckpoint(back)).toEqual(bytes);
    expect(checkpointSha256(back)).toBe(sha256Hex(bytes));

    const { optimizer: _unused, ...weightsOnly } = ckpt;
    const weightsBytes = encodeCheckpoint(weightsOnly);
    const weightsBack = decodeCheckpoint(weightsBytes);
    expectSameCheckpoint(weightsOnly, weightsBack);
    expect(weightsBack.optimizer).toBeUndefined();
    expect(Object.keys(decodeSafetensors(weightsBytes).tensors)).toHaveLength(
      Object.keys(paramShapes(config)).length,
    );
  });

  it('stores the config, step and feature epoch in __metadata__, and is loadable by any safetensors reader', () => {
    const { tensors, metadata } = decodeSafetensors(encodeCheckpoint(sample()));
    expect(JSON.parse(metadata.config!)).toEqual(config);
    expect(metadata).toMatchObject({ step: '1234', featureEpoch: '12', optimizerStep: '1234' });
    expect(tensors['m.tok_emb']!.shape).toEqual([19, 8]);
    expect(tensors['blocks.1.mlp.w1']).toMatchObject({ dtype: 'f32', shape: [8, 16] });
  });

  it('rejects truncated bytes with CheckpointFormatError (safetensors error as cause)', () => {
    const bytes = encodeCheckpoint(sample());
    for (const length of [0, 7, 8, 100, bytes.length - 1]) {
      expect(() => decodeCheckpoint(bytes.subarray(0, length)), `length ${length}`).toThrow(
        expect.objectContaining({ name: 'CheckpointFormatError' }),
      );
    }
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1))).toThrow(
      expect.objectContaining({ cause: expect.objectContaining({ name: 'TruncatedError' }) }),
    );
  });

  it('rejects corrupted bytes: by hash when one is expected, by format when the header breaks', () => {
    const bytes = encodeCheckpoint(sample());
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 3]! ^= 0x01; // inside the last tensor's data
    expect(() => decodeCheckpoint(flipped, { sha256: sha256Hex(bytes) })).toThrow(
      expect.objectContaining({ name: 'CheckpointHashMismatchError', expected: sha256Hex(bytes) }),
    );
    const brokenHeader = Uint8Array.from(bytes);
    brokenHeader[9] = 0x7d; // '}' right after '{'
    expect(() => decodeCheckpoint(brokenHeader)).toThrow(
      expect.objectContaining({ name: 'CheckpointFormatError' }),
    );
  });

  it('rejects a checkpoint of another model with CheckpointConfigMismatchError, accepting defaults spelled out', () => {
    const bytes = encodeCheckpoint(sample());
    expect(() => decodeCheckpoint(bytes, { config: { ...config, nFeatures: 8 } })).toThrow(
      expect.objectContaining({ name: 'CheckpointConfigMismatchError' }),
    );
    const { ropeBase: _r, featureRedraw: _f, ...withDefaultsLeftOut } = config;
    expect(decodeCheckpoint(bytes, { config: withDefaultsLeftOut }).step).toBe(1234);
  });

  it('rejects valid safetensors that are not a canonical, complete checkpoint', () => {
    const good = encodeCheckpoint(sample());
    expect(() => decodeCheckpoint(reformatHeader(good))).toThrow(
      expect.objectContaining({
        name: 'CheckpointFormatError',
        message: expect.stringContaining('canonical'),
      }),
    );
    const { tensors, metadata } = decodeSafetensors(good);
    const variants: [string, Record<string, unknown>, Record<string, string>][] = [
      ['missing tensor', { ...tensors, 'blocks.0.attn.wq': undefined }, metadata],
      ['extra tensor', { ...tensors, extra: f32Tensor([1], Float32Array.of(1)) }, metadata],
      ['wrong shape', { ...tensors, 'ln_f.bias': f32Tensor([2, 4], new Float32Array(8)) }, metadata],
      ['moments without optimizerStep', tensors, { ...metadata, optimizerStep: undefined } as never],
      ['bad step', tensors, { ...metadata, step: '-1' }],
      ['foreign format', tensors, { ...metadata, format: 'something-else' }],
      ['invalid config', tensors, { ...metadata, config: JSON.stringify({ ...config, nHeads: 3 }) }],
    ];
    for (const [what, ts, md] of variants) {
      const clean = Object.fromEntries(
        Object.entries(ts).filter(([, t]) => t !== undefined),
      ) as typeof tensors;
      const mdClean = Object.fromEntries(Object.entries(md).filter(([, v]) => v !== undefined));
      expect(() => decodeCheckpoint(encodeSafetensors(clean, mdClean)), what).toThrow(
        expect.objectContaining({ name: 'CheckpointFormatError' }),
      );
    }
  });

  it('refuses to encode parameters that do not fit the config', () => {
    const ckpt = sample();
    expect(() =>
      encodeCheckpoint({ ...ckpt, params: { ...ckpt.params, 'ln_f.bias': new Float32Array(3) } }),
    ).toThrow(expect.objectContaining({ name: 'CheckpointFormatError' }));
    expect(() =>
      encodeCheckpoint({ ...ckpt, params: { ...ckpt.params, stray: new Float32Array(1) } }),
    ).toThrow(expect.objectContaining({ name: 'CheckpointFormatError' }));
    expect(() => encodeCheckpoint({ ...ckpt, step: 1.5 })).toThrow(
      expect.objectContaining({ name: 'CheckpointFormatError' }),
    );
  });
});

describe('checkpoint files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'performer-ckpt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically over an existing file and reads back bit-exactly, leaving no temp files', async () => {
    const path = join(dir, 'model.safetensors');
    await writeFile(path, 'old contents');
    const ckpt = sample();
    const sha = await writeCheckpointFile(path, ckpt);
    expect(sha).toBe(checkpointSha256(ckpt));
    expect(sha256Hex(await readFile(path))).toBe(sha);
    expectSameCheckpoint(ckpt, await readCheckpointFile(path, { config, sha256: sha }));
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('leaves the previous file untouched and no temp file when the write cannot happen', async () => {
    const path = join(dir, 'keep.safetensors');
    const first = sample();
    await writeCheckpointFile(path, first);
    const before = await readFile(path);
    await expect(writeCheckpointFile(path, { ...first, featureEpoch: -1 })).rejects.toMatchObject({
      name: 'CheckpointFormatError',
    });
    // A parent that is a file, not a directory: the write fails before anything is renamed.
    await writeFile(join(dir, 'not-a-dir'), 'x');
    await expect(writeCheckpointFile(join(dir, 'not-a-dir', 'x.safetensors'), first)).rejects.toMatchObject({
      code: expect.stringMatching(/^(EEXIST|ENOTDIR)$/),
    });
    expect(await readFile(path)).toEqual(before);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects a truncated or wrong-config file with the typed error', async () => {
    const path = join(dir, 'bad.safetensors');
    const bytes = encodeCheckpoint(sample());
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(readCheckpointFile(path)).rejects.toMatchObject({ name: 'CheckpointFormatError' });
    await writeFile(path, bytes);
    await expect(readCheckpointFile(path, { config: { ...config, seed: 10 } })).rejects.toMatchObject({
      name: 'CheckpointConfigMismatchError',
    });
  });
});
