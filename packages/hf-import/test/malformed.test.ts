import { appendFile, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importHfFolder, SHARD_INDEX } from '../src/node.js';
import { hfFixture, shardName, storedTensors, writeHfFolder, type HfFixture } from '../src/fixtures.js';
import { tempDirs } from './helpers.js';

const tempDir = tempDirs();
const OPTS = { seed: 1 };
const Q0 = 'model.layers.0.self_attn.q_proj.weight';

/** A folder of `fx` after `change` ran on it. */
async function folder(
  fx: HfFixture,
  change: (dir: string) => Promise<void> = async () => {},
  shards = 1,
): Promise<string> {
  const dir = await tempDir();
  await writeHfFolder(dir, fx.config, storedTensors(fx), { shards });
  await change(dir);
  return dir;
}

async function refusal(dir: string): Promise<Error> {
  return importHfFolder(dir, OPTS).then(
    () => {
      throw new Error('imported a malformed folder');
    },
    (e: Error) => e,
  );
}

/** safetensors bytes from a header object written as given (no validation) and raw data. */
function rawSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}
type RawHeader = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

/** The header and data safetensors lays out for `tensors`, in order, for a test to edit before writing. */
function layout(tensors: Record<string, RawTensor>): { header: RawHeader; data: Uint8Array } {
  const header: RawHeader = {};
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.length] };
    at += t.data.length;
  }
  const data = new Uint8Array(at);
  for (const [name, t] of Object.entries(tensors)) data.set(t.data, header[name]!.data_offsets[0]);
  return { header, data };
}

/** The fixture's tensors as raw entries (F32), for tests that write a header by hand. */
function rawTensors(fx: HfFixture): Record<string, RawTensor> {
  return Object.fromEntries(
    Object.entries(storedTensors(fx, 'F32')).map(([n, t]) => [
      n,
      { dtype: 'F32', shape: t.shape, data: t.data },
    ]),
  );
}

/** A folder whose model.safetensors is written by hand from `tensors`, its header edited by `lie`. */
async function handWritten(
  tensors: Record<string, RawTensor>,
  lie: (header: RawHeader) => void = () => {},
): Promise<string> {
  const dir = await folder(llama);
  const { header, data } = layout(tensors);
  lie(header);
  await writeFile(join(dir, 'model.safetensors'), rawSafetensors(header, data));
  return dir;
}

const llama = hfFixture('llama');

describe('malformed model folders are refused with a typed error', () => {
  it('a missing config.json, weights file or tokenizer.json', async () => {
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      const e = await refusal(await folder(llama, (dir) => rm(join(dir, file))));
      expect(e).toMatchObject({ name: 'MissingModelFileError', file });
    }
  });

  it('config.json that is not JSON, or names an unknown architecture', async () => {
    expect(
      await refusal(await folder(llama, (dir) => writeFile(join(dir, 'config.json'), '{"architectures": ['))),
    ).toMatchObject({ name: 'InvalidConfigError' });
    const mistral = { ...llama, config: { ...llama.config, architectures: ['MistralForCausalLM'] } };
    expect(await refusal(await folder(mistral))).toMatchObject({
      name: 'UnknownArchitectureError',
      architectures: ['MistralForCausalLM'],
    });
  });

  it('a missing tensor', async () => {
    const { [Q0]: _, ...rest } = llama.tensors;
    expect(await refusal(await folder({ ...llama, tensors: rest }))).toMatchObject({
      name: 'MissingTensorError',
      tensor: Q0,
    });
  });

  it('a tensor the architecture does not have (a Qwen3-style q_norm)', async () => {
    const extra = 'model.layers.0.self_attn.q_norm.weight';
    const fx = {
      ...llama,
      tensors: { ...llama.tensors, [extra]: { shape: [4], values: new Float32Array(4) } },
    };
    expect(await refusal(await folder(fx))).toMatchObject({ name: 'UnexpectedTensorError', tensor: extra });
  });

  it('a wrong shape (k_proj as if there were no grouped-query attention)', async () => {
    const k = 'model.layers.1.self_attn.k_proj.weight';
    const fx = {
      ...llama,
      tensors: { ...llama.tensors, [k]: { shape: [16, 16], values: new Float32Array(256) } },
    };
    expect(await refusal(await folder(fx))).toMatchObject({
      name: 'TensorShapeError',
      tensor: k,
      expected: [8, 16],
      actual: [16, 16],
    });
  });

  it('an unsupported dtype (int8, fp8)', async () => {
    for (const dtype of ['I8', 'F8_E4M3']) {
      const tensors = rawTensors(llama);
      tensors['model.norm.weight'] = { dtype, shape: [16], data: new Uint8Array(16) };
      expect(await refusal(await handWritten(tensors))).toMatchObject({
        name: 'UnsupportedDtypeError',
        tensor: 'model.norm.weight',
        dtype,
      });
    }
  });

  it('a hand-written file with every tensor in order imports (the lies below are all that is wrong)', async () => {
    await expect(importHfFolder(await handWritten(rawTensors(llama)), OPTS)).resolves.toBeDefined();
  });

  it('a truncated weights file', async () => {
    const dir = await folder(llama, async (d) => {
      const file = join(d, 'model.safetensors');
      await truncate(file, (await readFile(file)).length - 3);
    });
    expect(await refusal(dir)).toMatchObject({ name: 'TruncatedWeightsError' });
    const headerOnly = await folder(llama, (d) => truncate(join(d, 'model.safetensors'), 20));
    expect(await refusal(headerOnly)).toMatchObject({ name: 'TruncatedWeightsError' });
  });

  it('a header that lies', async () => {
    const lies: Array<(h: RawHeader) => void> = [
      // A range longer than the shape needs.
      (h) => (h[Q0]!.data_offsets[1] += 4),
      // A shape that does not fit its range.
      (h) => (h[Q0]!.shape = [16, 15]),
      // Two tensors on the same bytes.
      (h) =>
        (h['model.norm.weight']!.data_offsets = h['model.layers.0.input_layernorm.weight']!.data_offsets),
      // A value that is not a tensor entry.
      (h) => ((h as Record<string, unknown>)[Q0] = { dtype: 'F32', shape: [256] }),
    ];
    for (const lie of lies) {
      expect(await refusal(await handWritten(rawTensors(llama), lie))).toMatchObject({
        name: 'MalformedWeightsError',
      });
    }
    const trailing = await folder(llama, (d) => appendFile(join(d, 'model.safetensors'), new Uint8Array(4)));
    expect(await refusal(trailing)).toMatchObject({ name: 'MalformedWeightsError' });
    const notJson = await folder(llama, async (d) => {
      const bytes = new Uint8Array(await readFile(join(d, 'model.safetensors')));
      bytes[9] = 0xff;
      await writeFile(join(d, 'model.safetensors'), bytes);
    });
    expect(await refusal(notJson)).toMatchObject({ name: 'MalformedWeightsError' });
  });

  it('a NaN weight', async () => {
    const tensors = rawTensors(llama);
    new DataView(tensors[Q0]!.data.buffer, tensors[Q0]!.data.byteOffset).setFloat32(20, NaN, true);
    expect(await refusal(await handWritten(tensors))).toMatchObject({
      name: 'NonFiniteWeightError',
      tensor: Q0,
    });
  });

  it('a shard the index names is missing', async () => {
    const dir = await folder(llama, (d) => rm(join(d, shardName(1, 3))), 3);
    expect(await refusal(dir)).toMatchObject({ name: 'MissingModelFileError', file: shardName(1, 3) });
  });

  it('an index that disagrees with its shards, or points out of the folder', async () => {
    const edits: Array<(map: Record<string, string>) => void> = [
      (map) => (map[Q0] = map[Q0] === shardName(0, 3) ? shardName(1, 3) : shardName(0, 3)),
      (map) => delete map[Q0],
      (map) => (map['model.layers.0.self_attn.q_norm.weight'] = shardName(0, 3)),
      (map) => (map[Q0] = '../model.safetensors'),
    ];
    for (const edit of edits) {
      const dir = await folder(
        llama,
        async (d) => {
          const index = JSON.parse(await readFile(join(d, SHARD_INDEX), 'utf8'));
          edit(index.weight_map);
          await writeFile(join(d, SHARD_INDEX), JSON.stringify(index));
        },
        3,
      );
      expect(await refusal(dir)).toMatchObject({ name: 'ShardIndexError' });
    }
  });

  it('a tokenizer with ids beyond the vocabulary', async () => {
    const small = hfFixture('llama', { config: { vocab_size: 200 } });
    expect(await refusal(await folder(small))).toMatchObject({ name: 'InvalidTokenizerError' });
  });
});
