/**
 * The job the coordinator publishes: the manifest signed by the job key, the base checkpoint it names by
 * SHA-256 and, for an `hf` tokenizer, the tokenizer files it names by size and SHA-256. The coordinator
 * never loads the model into a compute engine; it only checks that the base is well-formed safetensors
 * (counting its parameters for the manifest) and that each tokenizer file is the one the manifest names —
 * parsing the tokenizer is the peers' part (performer's loadTokenizer), as it is for the weights.
 */
import { readFile } from 'node:fs/promises';
import {
  decodeSafetensors,
  sha256Hex,
  signJob,
  JobManifest,
  isProtocolError,
  shapeElements,
  type AdmissionPolicy,
  type SignedJob,
} from '@slimswarm/protocol';
import { defaultManifest } from '@slimswarm/default-job/job';
import type { JobKey } from './job-key.js';

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

export interface LoadJobOptions {
  basePath: string;
  /** A manifest file; none: the default job under `key`. */
  manifestPath?: string;
  key: JobKey;
  /** The default job's admission (a manifest file names its own). */
  admission?: AdmissionPolicy;
  tokenizer?: TokenizerPaths;
}

export async function loadJob(opts: LoadJobOptions): Promise<PublishedJob> {
  const manifest = await loadManifest(opts);
  return {
    manifest: manifest.manifest,
    signed: signJob(manifest.manifest, opts.key.secretKey),
    base: manifest.base,
    tokenizerFiles: await loadTokenizerFiles(manifest.manifest, opts.tokenizer ?? {}),
  };
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

async function loadManifest(opts: LoadJobOptions): Promise<{ manifest: JobManifest; base: Uint8Array }> {
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
    return { manifest: defaultManifest(baseInfo, opts.key.publicKey, opts.admission), base };

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
  return { manifest: parsed.data, base };
}
