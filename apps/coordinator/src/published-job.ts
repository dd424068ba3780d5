/**
 * The job the coordinator publishes: the manifest and the base checkpoint it names by SHA-256. The
 * coordinator never loads the model into a compute engine; it only checks that the file is well-formed
 * safetensors and counts its parameters for the manifest.
 */
import { readFile } from 'node:fs/promises';
import {
  decodeSafetensors,
  sha256Hex,
  JobManifest,
  isProtocolError,
  shapeElements,
} from '@slimswarm/protocol';
import { defaultManifest } from '@slimswarm/default-job/job';

/** The base checkpoint is missing, unreadable or not a valid safetensors file. */
export class BaseCheckpointError extends Error {
  static override name = 'BaseCheckpointError';
  override name = 'BaseCheckpointError';
}

/** The manifest file does not validate or does not match the base checkpoint. */
export class InvalidManifestError extends Error {
  static override name = 'InvalidManifestError';
  override name = 'InvalidManifestError';
}

export interface PublishedJob {
  manifest: JobManifest;
  base: Uint8Array;
}

/** Tensors that are weights (not optimiser state) count towards the manifest's parameter total. */
function isWeight(name: string): boolean {
  return !name.startsWith('optim.');
}

export async function loadJob(opts: { basePath: string; manifestPath?: string }): Promise<PublishedJob> {
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
  if (opts.manifestPath === undefined) return { manifest: defaultManifest(baseInfo), base };

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
  return { manifest: parsed.data, base };
}
