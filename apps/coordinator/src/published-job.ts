/**
 * The job the coordinator publishes: the manifest signed by the job key, and the base checkpoint it
 * names by SHA-256. The
 * coordinator never loads the model into a compute engine; it only checks that the file is well-formed
 * safetensors and counts its parameters for the manifest.
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

export interface PublishedJob {
  manifest: JobManifest;
  /** The manifest and the job key's signature over it: what /api/job serves. */
  signed: SignedJob;
  base: Uint8Array;
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
}

export async function loadJob(opts: LoadJobOptions): Promise<PublishedJob> {
  const manifest = await loadManifest(opts);
  return {
    manifest: manifest.manifest,
    signed: signJob(manifest.manifest, opts.key.secretKey),
    base: manifest.base,
  };
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
