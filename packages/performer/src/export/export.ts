// Legend: N layers, H heads, K key/value heads, E head size, M random features, V vocab, D model.
/**
 * Exporting a model as a self-contained folder (format.ts) and reading one back, browser-safe: both work
 * on file bytes, the Node writer and reader (node.ts) only add the file system.
 */
import {
  canonicalJson,
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  isProtocolError,
  sha256Hex,
  tensorToF32,
} from '@slimswarm/protocol';
import type { ModelConfig } from '@slimswarm/protocol';
import { z } from 'zod';
import { ATTN_EPS, dimsOf } from '../model/config.js';
import { drawFeatures } from '../model/features.js';
import type { LayerFeatures } from '../model/features.js';
import { checkModelInputs } from '../model/inputs.js';
import { paramShapes } from '../model/params.js';
import type { Params } from '../model/params.js';
import { buildDecoderStepGraph, stepGraphSignature } from '../decode/graph.js';
import {
  ExportFeatureMismatchError,
  ExportFileFormatError,
  ExportFileMissingError,
  ExportHashMismatchError,
  InvalidExportOptionsError,
} from './errors.js';
import { HfTokenizer } from '../data/hf-tokenizer.js';
import { fitModel } from '../data/load.js';
import { ByteTokenizer, type Tokenizer } from '../data/tokenizer.js';
import {
  EXPORT_FILES,
  EXPORT_FORMAT,
  EXPORT_TOKENIZER_CONFIG,
  EXPORT_VERSION,
  ExportConfigJson,
  TokenizerJson,
} from './format.js';
import type { ExportFileName } from './format.js';

export const ExportOptions = z
  .object({
    /** Redraw epoch of the random features that go with the weights (featureEpoch(config, step)). */
    featureEpoch: z.number().int().min(0).default(0),
    /** A short name and description for people reading config.json. */
    name: z.string().max(200).optional(),
    description: z.string().max(10_000).optional(),
    /** The job's tokenizer (default the byte one): a Hugging Face one's files are written as they are. */
    tokenizer: z
      .custom<Tokenizer>((t) => t instanceof ByteTokenizer || t instanceof HfTokenizer, 'a Tokenizer')
      .optional(),
  })
  .strict();
export type ExportOptions = z.input<typeof ExportOptions>;

/** The folder's files as bytes, by file name. */
export type ExportedFiles = Record<ExportFileName, Uint8Array> & {
  [EXPORT_TOKENIZER_CONFIG]?: Uint8Array;
};

/** A loaded folder: everything needed to run the model again (createDecoder) or inspect it. */
export interface ExportedModel {
  config: ModelConfig;
  params: Params;
  featureEpoch: number;
  /** ω rebuilt from config.json's seed and epoch, checked against the recorded SHA-256. */
  features: LayerFeatures[];
  /** The tokenizer the folder names, ready to encode prompts and decode what the model generates. */
  tokenizer: Tokenizer;
  /** config.json, parsed. */
  manifest: ExportConfigJson;
  /** decoder_step.onnx, for an InferenceSession. */
  stepGraph: Uint8Array;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The architecture in words, for people reading config.json (the model field is the exact form). */
function architecture(config: ModelConfig): string {
  const { h, kv } = dimsOf(config);
  const norm = config.norm === 'rmsnorm' ? 'RMSNorm' : 'LayerNorm';
  const mlp = { gelu: 'exact GELU', 'gelu-tanh': 'tanh-approximated GELU', swiglu: 'SwiGLU' }[config.mlp];
  const positions =
    config.positions === 'rope'
      ? `RoPE (base ${config.ropeBase}, pairs (2p, 2p+1)) on q and k before the positive orthogonal random features`
      : `learned absolute positions (pos_emb, ${config.maxPositions} rows) added to the token embedding, positive orthogonal random features on q and k`;
  const biased = Object.entries(config.bias)
    .filter(([, on]) => on)
    .map(([part]) => part);
  return (
    `causal FAVOR+ Performer language model: pre-${norm} blocks, ${positions}, causal linear attention by ` +
    `prefix sums${kv === h ? '' : ` with ${kv} key/value heads for ${h} query heads (query head h reads ⌊h·${kv}/${h}⌋)`}, ` +
    `${mlp} MLP, ${biased.length > 0 ? `biases on ${biased.join(', ')}` : 'no biases'}, ` +
    `${config.tiedHead ? 'tied LM head' : 'untied LM head (lm_head)'} (docs/performer.md, "The function")`
  );
}

const FEATURE_CONSTRUCTION =
  'per layer i: Rng(seed, "favor/layer{i}/epoch{epoch}") (xoshiro128** seeded by splitmix32 of seed XOR ' +
  'FNV-1a(label)), M rows of size E in blocks of E orthogonal directions (Gram-Schmidt on Box-Muller ' +
  'Gaussian rows), each row scaled to a chi(E) norm; key stabiliser max_j |ω_j|²/2 ' +
  '(@slimswarm/performer drawFeatures)';

function weightLayout(config: ModelConfig): string {
  const head = config.tiedHead
    ? 'tok_emb [V, D] is also the LM head (logits = ln_f(h) @ tok_embᵀ)'
    : 'the LM head is lm_head [D, V] (logits = ln_f(h) @ lm_head)';
  return (
    'f32, row-major; matrices stored [in, out] and applied as x @ W; heads are contiguous groups of E ' +
    `columns of attn.wq (query heads) and attn.wk/wv (key/value heads); ${head}`
  );
}

function stepUsage(config: ModelConfig): string {
  const limit =
    config.positions === 'learned'
      ? ` The model has ${config.maxPositions} learned positions: p stays below that.`
      : '';
  return (
    'start with state = zeros; for each token t at position p = 0, 1, 2, …: run {token: [t], position: [p], ' +
    'state}, read logits [1, V] (the distribution of the next token) and feed stateOut as the next state. ' +
    `A prompt is fed the same way, one token per run; memory and time per token do not depend on p.${limit}`
  );
}

/** SHA-256 of every layer's ω (f32 bytes, layer after layer). */
function omegaSha256(features: readonly LayerFeatures[]): string {
  const total = features.reduce((n, f) => n + f.omega.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const f of features) {
    bytes.set(new Uint8Array(f.omega.buffer, f.omega.byteOffset, f.omega.byteLength), at);
    at += f.omega.byteLength;
  }
  return sha256Hex(bytes);
}

function json(value: unknown): Uint8Array {
  return utf8.encode(`${JSON.stringify(value, null, 2)}\n`);
}

/** The exported folder's four files, as bytes. */
export function exportModel(config: ModelConfig, params: Params, opts: ExportOptions = {}): ExportedFiles {
  const parsed = ExportOptions.safeParse(opts);
  if (!parsed.success) throw new InvalidExportOptionsError(z.prettifyError(parsed.error));
  const { featureEpoch, name, description } = parsed.data;
  // The byte description fits any model (test models have a dozen ids); a given tokenizer must fit it.
  const tokenizer =
    parsed.data.tokenizer === undefined
      ? new ByteTokenizer()
      : fitModel(parsed.data.tokenizer, config.vocabSize);
  const features = drawFeatures(config, featureEpoch);
  checkModelInputs(config, params, features);
  const shapes = paramShapes(config);

  const weights = encodeSafetensors(
    Object.fromEntries(Object.entries(shapes).map(([n, shape]) => [n, f32Tensor(shape, params[n]!)])),
    { format: EXPORT_FORMAT, featureEpoch: String(featureEpoch) },
  );
  const stepGraph = buildDecoderStepGraph(config, params, features);
  const tokenizerFiles = tokenizerFilesOf(tokenizer, config);
  const signature = stepGraphSignature(config);
  const manifest: ExportConfigJson = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    ...(name === undefined ? {} : { name }),
    ...(description === undefined ? {} : { description }),
    architecture: architecture(config),
    model: config,
    features: {
      seed: config.seed,
      epoch: featureEpoch,
      omegaSha256: omegaSha256(features),
      construction: FEATURE_CONSTRUCTION,
    },
    weights: {
      file: EXPORT_FILES.weights,
      sha256: sha256Hex(weights),
      dtype: 'F32',
      layout: weightLayout(config),
      tensors: shapes,
    },
    tokenizer: {
      file: EXPORT_FILES.tokenizer,
      sha256: sha256Hex(tokenizerFiles.json),
      kind: tokenizer.kind,
      ...(tokenizerFiles.config === undefined
        ? {}
        : { config: { file: EXPORT_TOKENIZER_CONFIG, sha256: sha256Hex(tokenizerFiles.config) } }),
    },
    decoderStep: {
      file: EXPORT_FILES.stepGraph,
      sha256: sha256Hex(stepGraph),
      opset: signature.opset,
      inputs: signature.inputs,
      outputs: signature.outputs,
      usage: stepUsage(config),
    },
    constants: { normEps: config.normEps, attentionEps: ATTN_EPS },
  };
  return {
    [EXPORT_FILES.weights]: weights,
    [EXPORT_FILES.config]: json(manifest),
    [EXPORT_FILES.tokenizer]: tokenizerFiles.json,
    [EXPORT_FILES.stepGraph]: stepGraph,
    ...(tokenizerFiles.config === undefined ? {} : { [EXPORT_TOKENIZER_CONFIG]: tokenizerFiles.config }),
  };
}

/** A Hugging Face tokenizer's files as published (any HF loader reads them); the byte one described. */
function tokenizerFilesOf(
  tokenizer: Tokenizer,
  config: ModelConfig,
): { json: Uint8Array; config?: Uint8Array } {
  if (tokenizer instanceof HfTokenizer)
    return { json: tokenizer.files.tokenizer, config: tokenizer.files.config };
  return {
    json: json({
      kind: 'byte',
      description: 'token ids 0..255 are the UTF-8 bytes of the text; nothing to train or ship',
      vocabSize: config.vocabSize,
      decode: 'utf-8-replace',
    } satisfies TokenizerJson),
  };
}

/** The tokenizer config.json names, its files checked against their hashes. */
function readTokenizer(
  files: Readonly<Partial<Record<string, Uint8Array>>>,
  manifest: ExportConfigJson,
): Tokenizer {
  const bytes = need(files, EXPORT_FILES.tokenizer);
  checkHash(EXPORT_FILES.tokenizer, bytes, manifest.tokenizer.sha256);
  const { vocabSize } = manifest.model;
  if (manifest.tokenizer.kind === 'byte') {
    const described = parseJson(EXPORT_FILES.tokenizer, bytes, TokenizerJson);
    if (described.vocabSize !== vocabSize) {
      throw new ExportFileFormatError(
        EXPORT_FILES.tokenizer,
        `vocabSize ${described.vocabSize}, the model's is ${vocabSize}`,
      );
    }
    return new ByteTokenizer();
  }
  const named = manifest.tokenizer.config;
  const configBytes = named === undefined ? undefined : need(files, EXPORT_TOKENIZER_CONFIG);
  if (named !== undefined) checkHash(EXPORT_TOKENIZER_CONFIG, configBytes!, named.sha256);
  try {
    return fitModel(
      new HfTokenizer({ tokenizer: bytes, ...(configBytes === undefined ? {} : { config: configBytes }) }),
      vocabSize,
    );
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TokenizerFormatError' || err.name === 'TokenizerVocabularyError')
      throw new ExportFileFormatError(EXPORT_FILES.tokenizer, err.message, { cause: e });
    throw e;
  }
}

type AnyExportFile = ExportFileName | typeof EXPORT_TOKENIZER_CONFIG;

function need(files: Readonly<Partial<Record<string, Uint8Array>>>, file: AnyExportFile): Uint8Array {
  const bytes = files[file];
  if (bytes === undefined) throw new ExportFileMissingError(file);
  return bytes;
}

function parseJson<T extends z.ZodType>(file: AnyExportFile, bytes: Uint8Array, schema: T): z.output<T> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8.decode(bytes));
  } catch (e) {
    throw new ExportFileFormatError(file, 'not UTF-8 JSON', { cause: e });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ExportFileFormatError(file, z.prettifyError(parsed.error));
  return parsed.data;
}

function checkHash(file: AnyExportFile, bytes: Uint8Array, expected: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== expected) throw new ExportHashMismatchError(file, expected, actual);
}

/**
 * Reads an exported folder's files back, checking everything: schemas, each file's SHA-256 against
 * config.json, the weights' names, dtypes and shapes against the config, and ω rebuilt from seed and
 * epoch against its recorded hash. Throws an InvalidExportError subclass naming the file at fault.
 */
export function parseExportedModel(files: Readonly<Partial<Record<string, Uint8Array>>>): ExportedModel {
  const manifest = parseJson(EXPORT_FILES.config, need(files, EXPORT_FILES.config), ExportConfigJson);
  const config = manifest.model;
  const weightBytes = need(files, EXPORT_FILES.weights);
  const stepGraph = need(files, EXPORT_FILES.stepGraph);
  checkHash(EXPORT_FILES.weights, weightBytes, manifest.weights.sha256);
  checkHash(EXPORT_FILES.stepGraph, stepGraph, manifest.decoderStep.sha256);
  const tokenizer = readTokenizer(files, manifest);
  const shapes = paramShapes(config);
  if (canonicalJson(manifest.weights.tensors) !== canonicalJson(shapes)) {
    throw new ExportFileFormatError(EXPORT_FILES.config, 'weights.tensors does not match the model config');
  }
  const { n } = dimsOf(config);
  const signature = stepGraphSignature(config);
  if (
    canonicalJson({ inputs: manifest.decoderStep.inputs, outputs: manifest.decoderStep.outputs }) !==
    canonicalJson({ inputs: signature.inputs, outputs: signature.outputs })
  ) {
    throw new ExportFileFormatError(
      EXPORT_FILES.config,
      `decoderStep inputs/outputs do not fit a ${n}-layer model`,
    );
  }

  let content: ReturnType<typeof decodeSafetensors>;
  try {
    content = decodeSafetensors(weightBytes);
  } catch (e) {
    if (isProtocolError(e)) throw new ExportFileFormatError(EXPORT_FILES.weights, e.message, { cause: e });
    throw e;
  }
  const params: Params = {};
  for (const name of Object.keys(content.tensors)) {
    if (!(name in shapes)) throw new ExportFileFormatError(EXPORT_FILES.weights, `unexpected tensor ${name}`);
  }
  for (const [name, shape] of Object.entries(shapes)) {
    const t = content.tensors[name];
    if (t === undefined) throw new ExportFileFormatError(EXPORT_FILES.weights, `tensor ${name} is missing`);
    if (t.dtype !== 'f32' || t.shape.join(',') !== shape.join(',')) {
      throw new ExportFileFormatError(
        EXPORT_FILES.weights,
        `tensor ${name} is ${t.dtype} [${t.shape.join(', ')}], expected f32 [${shape.join(', ')}]`,
      );
    }
    params[name] = tensorToF32(t);
  }

  const features = drawFeatures(config, manifest.features.epoch);
  if (manifest.features.seed !== config.seed) {
    throw new ExportFeatureMismatchError(
      EXPORT_FILES.config,
      `features.seed ${manifest.features.seed} differs from model.seed ${config.seed}`,
    );
  }
  if (omegaSha256(features) !== manifest.features.omegaSha256) {
    throw new ExportFeatureMismatchError(
      EXPORT_FILES.config,
      `ω rebuilt from seed ${config.seed}, epoch ${manifest.features.epoch} does not match features.omegaSha256`,
    );
  }
  return { config, params, featureEpoch: manifest.features.epoch, features, tokenizer, manifest, stepGraph };
}
