/**
 * The job the coordinator publishes: the manifest signed by the job key, the base checkpoint it names by
 * SHA-256 and, for an `hf` tokenizer, the tokenizer files it names by size and SHA-256. The coordinator
 * never loads the model into a compute engine: it checks that the base is well-formed safetensors
 * (counting its parameters for the manifest) and that each tokenizer file is the one the manifest names,
 * or converts a Hugging Face folder's weights into our base checkpoint (hf-import: data conversion, no
 * engine). Parsing the tokenizer is the peers' part (performer's loadTokenizer), as it is for the weights.
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import {
  decodeSafetensors,
  sha256Hex,
  signJob,
  JobManifest,
  isProtocolError,
  shapeElements,
  type AdmissionPolicy,
  type LoraConfig,
  type PrivacyConfig,
  type SignedJob,
} from '@slimswarm/protocol';
import { DEFAULT_MODEL, DEFAULT_SEQ_LEN, defaultManifest, jobManifest } from '@slimswarm/default-job/job';
import { importHfFolder } from '@slimswarm/hf-import/node';
import { allocateBaseWeights, paramCount } from '@slimswarm/performer/weights';
import type { JobKey } from './job-key.js';
import { withPrivacy } from './private-job.js';

/** The base checkpoint is missing, unreadable or not a valid safetensors file. */
export class BaseCheckpointError extends Error {
  static override name = 'BaseCheckpointError';
  override name = 'BaseCheckpointError';
}

/** The manifest file does not validate, does not match the base checkpoint, or names another job key. */
export class InvalidManifestError extends Error {
  static override name = 'InvalidManifestError';
  override name = 'InvalidManifestError';
}

/** A tokenizer file the manifest names is not given, cannot be read, or is not the one it names. */
export class TokenizerFileError extends Error {
  static override name = 'TokenizerFileError';
  override name = 'TokenizerFileError';
}

export interface PublishedJob {
  manifest: JobManifest;
  /** The manifest and the job key's signature over it: what /api/job serves. */
  signed: SignedJob;
  base: Uint8Array;
  /** The tokenizer files by SHA-256 (none for a byte job): what /api/tokenizer/<sha256> serves. */
  tokenizerFiles: ReadonlyMap<string, Uint8Array>;
}

/** Where the tokenizer files of an `hf` job are: its tokenizer.json and tokenizer_config.json. */
export interface TokenizerPaths {
  tokenizer?: string;
  config?: string;
}

/** Tensors that are weights (not optimiser state) count towards the manifest's parameter total. */
function isWeight(name: string): boolean {
  return !name.startsWith('optim.');
}

/** The job of a Hugging Face model folder (`--model`) and what shapes it beyond the folder. */
export interface ModelJobOptions {
  dir: string;
  nFeatures?: number;
  seqLen?: number;
  chunkSize?: number;
  localSteps?: number | undefined;
  seed?: number;
  /** The inner AdamW learning rate (default: the default job's). */
  lr?: number | undefined;
  /** Train LoRA adapters on the frozen imported base. */
  lora?: LoraConfig | undefined;
}

export interface LoadJobOptions {
  basePath: string;
  /** Build the job from this model folder instead of `basePath` and `manifestPath`. */
  model?: ModelJobOptions;
  /** A manifest file; none: the default job under `key`. */
  manifestPath?: string;
  key: JobKey;
  /** The default job's admission (a manifest file names its own). */
  admission?: AdmissionPolicy;
  tokenizer?: TokenizerPaths;
  /** Make the job private (whichever way it was built): replaces a manifest file's own privacy. */
  privacy?: PrivacyConfig | undefined;
}

export async function loadJob(opts: LoadJobOptions): Promise<PublishedJob> {
  const built = opts.model ? await importedJob(opts.model, opts) : await loadManifest(opts);
  const job = opts.privacy ? { ...built, manifest: withPrivacy(built.manifest, opts.privacy) } : built;
  return { ...job, signed: signJob(job.manifest, opts.key.secretKey) };
}

/** A job name from the folder's name: the characters a job id allows, and short. */
function jobName(dir: string): string {
  const name = basename(resolve(dir))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 48);
  return /^[A-Za-z0-9]/.test(name) ? name : `model${name}`;
}

/**
 * The job of a model folder: its architecture as our ModelConfig (FAVOR+ attention), its tokenizer, and
 * its weights as the base checkpoint, on the default job's training settings. A model with learned
 * positions trains on sequences no longer than it has positions (by default the shorter of the two).
 */
async function importedJob(
  model: ModelJobOptions,
  opts: LoadJobOptions,
): Promise<Omit<PublishedJob, 'signed'>> {
  // The weights are imported straight into the base checkpoint's bytes: one copy in memory.
  let base: Uint8Array | undefined;
  const imported = await importHfFolder(model.dir, {
    allocate: (config) => {
      const allocated = allocateBaseWeights(config);
      base = allocated.bytes;
      return allocated.params;
    },
    seed: model.seed ?? DEFAULT_MODEL.seed,
    ...(model.nFeatures === undefined ? {} : { nFeatures: model.nFeatures }),
  });
  const { config } = imported;
  const positions = config.maxPositions ?? Infinity;
  const seqLen = model.seqLen ?? Math.min(DEFAULT_SEQ_LEN, positions);
  if (seqLen > positions) {
    throw new InvalidManifestError(`--seq-len ${seqLen}: ${model.dir} has ${positions} learned positions`);
  }
  if (base === undefined) throw new Error('hf-import filled no base');
  const baseInfo = { sha256: sha256Hex(base), bytes: base.byteLength, params: paramCount(config) };
  const manifest = jobManifest(
    {
      name: jobName(model.dir),
      title: `Fine-tune ${basename(resolve(model.dir))} (${imported.architecture})`,
      model: config,
      tokenizer: imported.tokenizer.spec,
      seqLen,
      ...(model.chunkSize === undefined ? {} : { chunkSize: model.chunkSize }),
      ...(model.localSteps === undefined ? {} : { localSteps: model.localSteps }),
      ...(model.lr === undefined ? {} : { lr: model.lr }),
      ...(model.lora === undefined ? {} : { lora: model.lora }),
    },
    baseInfo,
    opts.key.publicKey,
    opts.admission,
  );
  const { spec, tokenizer, config: tokenizerConfig } = imported.tokenizer;
  const tokenizerFiles = new Map([[spec.tokenizer.sha256, tokenizer]]);
  if (spec.config && tokenizerConfig) tokenizerFiles.set(spec.config.sha256, tokenizerConfig);
  return { manifest, base, tokenizerFiles };
}

/** Each file the manifest's tokenizer names, read from its path and checked against its size and hash. */
async function loadTokenizerFiles(
  manifest: JobManifest,
  paths: TokenizerPaths,
): Promise<Map<string, Uint8Array>> {
  const spec = manifest.tokenizer;
  const files = new Map<string, Uint8Array>();
  for (const role of ['tokenizer', 'config'] as const) {
    const named = spec.kind === 'hf' ? spec[role] : undefined;
    const path = paths[role];
    const flag = role === 'tokenizer' ? '--tokenizer' : '--tokenizer-config';
    if (named === undefined) {
      // A file the job does not name would be served to no one: a mistake worth saying at start.
      if (path !== undefined)
        throw new TokenizerFileError(`${flag} ${path}: the job's tokenizer names no such file`);
      continue;
    }
    if (path === undefined)
      throw new TokenizerFileError(`the job's tokenizer names a ${role} file: give ${flag}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      throw new TokenizerFileError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
    }
    const sha256 = sha256Hex(bytes);
    if (bytes.byteLength !== named.bytes || sha256 !== named.sha256)
      throw new TokenizerFileError(
        `${flag} ${path} is ${bytes.byteLength} bytes with SHA-256 ${sha256}; the job names ${named.bytes} bytes with ${named.sha256}`,
      );
    files.set(sha256, bytes);
  }
  return files;
}

async function loadManifest(opts: LoadJobOptions): Promise<Omit<PublishedJob, 'signed'>> {
  let base: Uint8Array;
  try {
    base = new Uint8Array(await readFile(opts.basePath));
  } catch (e) {
    throw new BaseCheckpointError(`cannot read base checkpoint ${opts.basePath}: ${(e as Error).message}`);
  }
  let params = 0;
  try {
    const { tensors } = decodeSafetensors(base);
    for (const [name, t] of Object.entries(tensors)) if (isWeight(name)) params += shapeElements(t.shape);
  } catch (e) {
    if (isProtocolError(e)) throw new BaseCheckpointError(`${opts.basePath}: ${e.message}`);
    throw e;
  }
  const baseInfo = { sha256: sha256Hex(base), bytes: base.byteLength, params };
  if (opts.manifestPath === undefined)
    return {
      manifest: defaultManifest(baseInfo, opts.key.publicKey, opts.admission),
      base,
      tokenizerFiles: await loadTokenizerFiles(
        defaultManifest(baseInfo, opts.key.publicKey),
        opts.tokenizer ?? {},
      ),
    };

  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(opts.manifestPath, 'utf8'));
  } catch (e) {
    throw new InvalidManifestError(`cannot read manifest ${opts.manifestPath}: ${(e as Error).message}`);
  }
  const parsed = JobManifest.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidManifestError(`${opts.manifestPath}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (parsed.data.baseCheckpoint.sha256 !== baseInfo.sha256) {
    throw new InvalidManifestError(
      `${opts.manifestPath} names base ${parsed.data.baseCheckpoint.sha256}, but ${opts.basePath} is ${baseInfo.sha256}`,
    );
  }
  if (parsed.data.jobKey !== opts.key.publicKey) {
    throw new InvalidManifestError(
      `${opts.manifestPath} names job key ${parsed.data.jobKey}, but the coordinator holds ${opts.key.publicKey}`,
    );
  }
  return {
    manifest: parsed.data,
    base,
    tokenizerFiles: await loadTokenizerFiles(parsed.data, opts.tokenizer ?? {}),
  };
}
