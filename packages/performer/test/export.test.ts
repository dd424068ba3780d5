/**
 * The exported folder: written atomically, its decoder_step.onnx runs in a fresh onnxruntime session with
 * nothing but the folder and matches the chunk engine and the fp64 forward; the loader reads it back and
 * refuses a bad folder with typed errors.
 */
import { mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex, type ModelConfig } from '@slimswarm/protocol';
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { DECODE_CONFIGS, liveParams } from './decode-fixtures.js';
import { FAMILY_CONFIGS } from './family-fixtures.js';
import { ChunkRunner, configureThreads } from '../src/chunk/index.js';
import { createDecoder } from '../src/decode/index.js';
import {
  EXPORT_FILES,
  EXPORT_VERSION,
  ExportConfigJson,
  ExportFeatureMismatchError,
  ExportFileFormatError,
  ExportFileMissingError,
  ExportHashMismatchError,
  InvalidExportError,
  InvalidExportOptionsError,
  exportModel,
  parseExportedModel,
} from '../src/export/index.js';
import type { ExportedFiles } from '../src/export/index.js';
import { readExportedModel, writeExportedModel } from '../src/export/node.js';
import { drawFeatures } from '../src/model/features.js';
import { ParamShapeError } from '../src/model/inputs.js';
import { Rng } from '../src/model/random.js';
import { naiveLogits } from '../src/naive/index.js';
import { OPSET } from '../src/onnx/graph.js';
import { loadTokenizer } from '../src/data/index.js';
import { tinyBpe } from './tiny-bpe.js';

// Every family (the performer one is DECODE_CONFIGS.small) and a wider default-family model.
const configs = { ...FAMILY_CONFIGS, wide: DECODE_CONFIGS.wide };

function randomTokens(config: ModelConfig, count: number): Int32Array {
  const rng = new Rng(config.seed, 'export-tokens');
  return Int32Array.from({ length: count }, () => Math.floor(rng.uniform() * config.vocabSize));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function softmaxRows(logits: ArrayLike<number>, vocab: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / vocab; r++) {
    let max = -Infinity;
    for (let c = 0; c < vocab; c++) max = Math.max(max, logits[r * vocab + c]!);
    let sum = 0;
    for (let c = 0; c < vocab; c++) sum += out[r * vocab + c] = Math.exp(logits[r * vocab + c]! - max);
    for (let c = 0; c < vocab; c++) out[r * vocab + c]! /= sum;
  }
  return out;
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slimswarm-export-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Op types and opset imports of a ModelProto, read from the onnx.proto field numbers. */
function onnxOps(bytes: Uint8Array): { ops: Set<string>; domains: string[]; opsets: number[] } {
  const fields = (buf: Uint8Array): [number, number, Uint8Array | number][] => {
    const out: [number, number, Uint8Array | number][] = [];
    let at = 0;
    const varint = (): number => {
      let v = 0n;
      let shift = 0n;
      for (;;) {
        const byte = buf[at++]!;
        v |= BigInt(byte & 0x7f) << shift;
        if (byte < 0x80) return Number(BigInt.asIntN(64, v));
        shift += 7n;
      }
    };
    while (at < buf.length) {
      const key = varint();
      const field = key >>> 3;
      const wire = key & 7;
      if (wire === 0) out.push([field, wire, varint()]);
      else if (wire === 2) {
        const n = varint();
        out.push([field, wire, buf.subarray(at, at + n)]);
        at += n;
      } else if (wire === 5) at += 4;
      else if (wire === 1) at += 8;
      else throw new Error(`wire type ${wire}`);
    }
    return out;
  };
  const text = (b: Uint8Array | number) => new TextDecoder().decode(b as Uint8Array);
  const ops = new Set<string>();
  const domains: string[] = [];
  const opsets: number[] = [];
  for (const [field, , value] of fields(bytes)) {
    if (field === 7) {
      for (const [gf, , node] of fields(value as Uint8Array)) {
        if (gf !== 1) continue;
        for (const [nf, , v] of fields(node as Uint8Array)) {
          if (nf === 4) ops.add(text(v));
          if (nf === 7) domains.push(text(v));
        }
      }
    }
    if (field === 8) {
      for (const [of, , v] of fields(value as Uint8Array)) {
        if (of === 1) domains.push(text(v));
        if (of === 2) opsets.push(v as number);
      }
    }
  }
  return { ops, domains, opsets };
}

// Standard ai.onnx operators (all of them at opset ≤ 18), the ones a step graph may use.
const STANDARD_OPS = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'MatMul',
  'Exp',
  'Log',
  'Tanh',
  'Sigmoid',
  'Gather',
  'Sqrt',
  'Erf',
  'Neg',
  'Cos',
  'Sin',
  'Identity',
  'Reshape',
  'Transpose',
  'Slice',
  'Concat',
  'Cast',
  'Equal',
  'Less',
  'ReduceSum',
  'ReduceMean',
  'ReduceMax',
  'Expand',
  'Pad',
]);

describe('exported folder', () => {
  it.each(Object.entries(configs))(
    '%s: decoder_step.onnx from the folder, in a fresh session, matches the chunk engine and the fp64 forward',
    async (_, config) => {
      const params = liveParams(config, 'export-noise');
      const dir = await tempDir();
      await writeExportedModel(dir, config, params, { featureEpoch: 1, name: 'tiny test model' });
      expect((await readdir(dir)).sort()).toEqual(Object.values(EXPORT_FILES).sort()); // no temp files left
      const manifest = ExportConfigJson.parse(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
      const [, , stateSpec] = manifest.decoderStep.inputs;

      configureThreads(1);
      const session = await ort.InferenceSession.create(await readFile(join(dir, 'decoder_step.onnx')), {
        executionProviders: ['wasm'],
      });
      const tokens = randomTokens(config, 17);
      const v = config.vocabSize;
      const stepped = new Float32Array(tokens.length * v); // [L, V]
      let state: ort.Tensor = new ort.Tensor(
        'float32',
        new Float32Array(stateSpec!.shape.reduce((a, b) => a * b, 1)),
        stateSpec!.shape,
      );
      for (let t = 0; t < tokens.length; t++) {
        const out = await session.run({
          token: new ort.Tensor('int32', Int32Array.of(tokens[t]!), [1]),
          position: new ort.Tensor('int32', Int32Array.of(t), [1]),
          state,
        });
        expect(out.logits!.dims).toEqual([1, v]);
        stepped.set(out.logits!.data as Float32Array, t * v);
        state = out.stateOut as ort.Tensor;
      }
      await session.release();

      // The chunk engine's logits graph over the same tokens in chunks of 5 (last chunk padded).
      const features = drawFeatures(config, 1);
      const runner = new ChunkRunner(config, 5, 'wasm');
      const model = runner.prepareModel(params, features);
      const chunked = new Float32Array(tokens.length * v);
      let carried: Float32Array = new Float32Array(runner.stateSize);
      for (let s = 0; s < tokens.length; s += 5) {
        const run = await runner.logits(model, tokens, s, Math.min(s + 5, tokens.length), carried);
        chunked.set(run.logits, s * v);
        carried = run.stateOut;
      }
      await runner.dispose();
      const reference = naiveLogits(config, params, tokens, features);

      expect(maxAbsDiff(stepped, chunked)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(stepped, reference)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(softmaxRows(stepped, v), softmaxRows(reference, v))).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(state.data as Float32Array, carried)).toBeLessThanOrEqual(
        1e-4 * Math.max(1, ...carried.map(Math.abs)),
      );
    },
  );

  it.each(Object.entries(FAMILY_CONFIGS))(
    '%s: reads back as the same model, and a decoder built from it gives the same logits',
    async (_, config) => {
      const params = liveParams(config, 'export-noise');
      const dir = await tempDir();
      await writeExportedModel(dir, config, params, { featureEpoch: 2 });
      const loaded = await readExportedModel(dir);
      expect(loaded.config).toEqual(config);
      expect(loaded.featureEpoch).toBe(2);
      expect(loaded.params).toEqual(params);
      expect(loaded.features).toEqual(drawFeatures(config, 2));
      expect(loaded.tokenizer.kind).toBe('byte');
      const tokens = randomTokens(config, 9);
      const a = await createDecoder(config, params, { chunk: 4, threads: 1, featureEpoch: 2 });
      const b = await createDecoder(loaded.config, loaded.params, {
        chunk: 4,
        threads: 1,
        featureEpoch: loaded.featureEpoch,
      });
      expect(await b.logits(tokens)).toEqual(await a.logits(tokens));
      await Promise.all([a.dispose(), b.dispose()]);
      // Exporting is deterministic: the same model gives the same bytes.
      const again = exportModel(config, params, { featureEpoch: 2 });
      for (const file of Object.values(EXPORT_FILES)) {
        expect(sha256Hex(again[file])).toBe(sha256Hex(new Uint8Array(await readFile(join(dir, file)))));
      }
    },
  );

  it.each(Object.entries(configs))(
    '%s: the step graph uses only standard ONNX operators at the builder opset',
    (_, config) => {
      const files = exportModel(config, liveParams(config, 'export-noise'));
      const { ops, domains, opsets } = onnxOps(files[EXPORT_FILES.stepGraph]);
      expect([...ops].filter((op) => !STANDARD_OPS.has(op))).toEqual([]);
      expect(domains.every((d) => d === '' || d === 'ai.onnx')).toBe(true);
      expect(opsets).toEqual([OPSET]);
    },
  );

  it("writes a Hugging Face job's tokenizer files as published and reads them back as that tokenizer", async () => {
    const bpe = tinyBpe();
    const config = { ...configs.performer, vocabSize: bpe.vocabSize + 7 }; // padded rows, as Qwen2's
    const params = liveParams(config, 'export-noise');
    const tokenizer = loadTokenizer(bpe.spec, bpe.files, config.vocabSize);
    const dir = await tempDir();
    await writeExportedModel(dir, config, params, { tokenizer });
    expect(new Uint8Array(await readFile(join(dir, 'tokenizer.json')))).toEqual(bpe.files.tokenizer);
    expect(new Uint8Array(await readFile(join(dir, 'tokenizer_config.json')))).toEqual(bpe.files.config);
    const loaded = await readExportedModel(dir);
    expect(loaded.manifest.tokenizer).toMatchObject({
      kind: 'hf',
      config: { file: 'tokenizer_config.json' },
    });
    const text = 'the fox 🐝 returns';
    expect(loaded.tokenizer.kind).toBe('hf');
    expect([...loaded.tokenizer.encode(text)]).toEqual([...tokenizer.encode(text)]);

    await writeFile(join(dir, 'tokenizer_config.json'), '{}');
    await expect(readExportedModel(dir)).rejects.toMatchObject({
      name: 'ExportHashMismatchError',
      file: 'tokenizer_config.json',
    });
    await unlink(join(dir, 'tokenizer_config.json'));
    await expect(readExportedModel(dir)).rejects.toMatchObject({
      name: 'ExportFileMissingError',
      file: 'tokenizer_config.json',
    });
    // A model with fewer rows than the tokenizer has ids cannot be exported with it.
    expect(() =>
      exportModel(configs.performer, liveParams(configs.performer, 'export-noise'), { tokenizer }),
    ).toThrow(expect.objectContaining({ name: 'TokenizerVocabularyError' }));
  });

  it('refuses a bad folder with a typed error naming the file', async () => {
    const config = configs.performer;
    const params = liveParams(config, 'export-noise');
    const good = exportModel(config, params, { featureEpoch: 1 });
    // Free-form JSON on purpose: the edits below break the schema.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    type Json = Record<string, any>;
    const manifest = JSON.parse(new TextDecoder().decode(good['config.json'])) as Json;
    const withConfig = (edit: (m: Json) => void, extra: Partial<ExportedFiles> = {}) => {
      const m = structuredClone(manifest);
      const files = { ...good, ...extra };
      for (const [file, key] of [
        ['model.safetensors', 'weights'],
        ['tokenizer.json', 'tokenizer'],
        ['decoder_step.onnx', 'decoderStep'],
      ] as const) {
        m[key].sha256 = sha256Hex(files[file]);
      }
      edit(m);
      return { ...files, 'config.json': new TextEncoder().encode(JSON.stringify(m)) };
    };
    const refuse = (
      files: Partial<ExportedFiles>,
      type: new (...a: never[]) => InvalidExportError,
      file: string,
    ) => {
      const err = (() => {
        try {
          parseExportedModel(files);
        } catch (e) {
          return e as InvalidExportError;
        }
        throw new Error('accepted a bad folder');
      })();
      expect(err).toBeInstanceOf(type);
      expect(err).toBeInstanceOf(InvalidExportError);
      expect(err.file).toBe(file);
    };

    expect(parseExportedModel(good).featureEpoch).toBe(1);
    for (const file of Object.values(EXPORT_FILES)) {
      const { [file]: _, ...rest } = good;
      refuse(rest, ExportFileMissingError, file);
    }
    refuse(
      { ...good, 'config.json': new TextEncoder().encode('{"format": ') },
      ExportFileFormatError,
      'config.json',
    );
    refuse(
      withConfig((m) => (m.version = EXPORT_VERSION + 1)),
      ExportFileFormatError,
      'config.json',
    );
    refuse(
      withConfig((m) => (m.model.nHeads = 5)),
      ExportFileFormatError,
      'config.json',
    );
    refuse(
      withConfig((m) => (m.decoderStep.inputs[0].name = 'tokens')),
      ExportFileFormatError,
      'config.json',
    );
    const tampered = good['model.safetensors'].slice();
    tampered[tampered.length - 1]! ^= 1;
    refuse({ ...good, 'model.safetensors': tampered }, ExportHashMismatchError, 'model.safetensors');
    refuse(
      { ...good, 'decoder_step.onnx': good['decoder_step.onnx'].slice(1) },
      ExportHashMismatchError,
      'decoder_step.onnx',
    );
    refuse(
      withConfig(() => {}, { 'model.safetensors': new Uint8Array(16) }),
      ExportFileFormatError,
      'model.safetensors',
    );
    const otherModel = exportModel(configs.wide, liveParams(configs.wide, 'export-noise'));
    refuse(
      withConfig(() => {}, { 'model.safetensors': otherModel['model.safetensors'] }),
      ExportFileFormatError,
      'model.safetensors',
    );
    refuse(
      withConfig(() => {}, { 'tokenizer.json': otherModel['tokenizer.json'] }),
      ExportFileFormatError,
      'tokenizer.json',
    );
    refuse(
      withConfig((m) => (m.features.epoch = 0)),
      ExportFeatureMismatchError,
      'config.json',
    );
    refuse(
      withConfig((m) => (m.features.seed = 4)),
      ExportFeatureMismatchError,
      'config.json',
    );

    // On disk: a folder missing its step graph.
    const dir = await tempDir();
    await writeExportedModel(dir, config, params);
    await unlink(join(dir, 'decoder_step.onnx'));
    await expect(readExportedModel(dir)).rejects.toThrow(ExportFileMissingError);
    await writeFile(join(dir, 'decoder_step.onnx'), 'not a graph');
    await expect(readExportedModel(dir)).rejects.toMatchObject({
      name: 'ExportHashMismatchError',
      file: 'decoder_step.onnx',
    });
  });

  it('checks the export options and the weights', () => {
    const config = configs.performer;
    const params = liveParams(config, 'export-noise');
    expect(() => exportModel(config, params, { featureEpoch: -1 })).toThrow(InvalidExportOptionsError);
    expect(() => exportModel(config, params, { nope: true } as never)).toThrow(InvalidExportOptionsError);
    const { 'ln_f.bias': _, ...missing } = params;
    expect(() => exportModel(config, missing)).toThrow(ParamShapeError);
  });
});
