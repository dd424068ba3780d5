/**
 * Joining a job: the coordinator publishes the manifest and the base checkpoint over plain HTTP (same
 * origin for browser tabs). Both are validated here — the manifest by its zod schema, the checkpoint by
 * the SHA-256 the manifest names — so a volunteer never trains on something it cannot check.
 */
import { JobListing, decodeSafetensors, sha256Hex, tensorToF32, type JobManifest } from '@slimswarm/protocol';
import type { Params } from '@slimswarm/performer';

/** The coordinator could not be reached, or answered with something that is not a valid job. */
export class JobFetchError extends Error {
  static override name = 'JobFetchError';
  override name = 'JobFetchError';
}

/** The base checkpoint's bytes do not hash to what the manifest names. */
export class BaseHashMismatchError extends Error {
  static override name = 'BaseHashMismatchError';
  override name = 'BaseHashMismatchError';
}

async function get(url: URL): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new JobFetchError(`cannot reach ${url.origin}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new JobFetchError(`${url} answered ${res.status}`);
  return res;
}

export async function fetchJob(coordinator: string | URL): Promise<JobListing> {
  const res = await get(new URL('/api/job', coordinator));
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new JobFetchError(`${res.url} did not answer JSON`);
  }
  const parsed = JobListing.safeParse(body);
  if (!parsed.success) throw new JobFetchError(`invalid job listing: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export async function fetchBase(coordinator: string | URL, manifest: JobManifest): Promise<Uint8Array> {
  const res = await get(new URL('/api/base', coordinator));
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (
    bytes.byteLength !== manifest.baseCheckpoint.bytes ||
    sha256Hex(bytes) !== manifest.baseCheckpoint.sha256
  ) {
    throw new BaseHashMismatchError(`base checkpoint does not match ${manifest.baseCheckpoint.sha256}`);
  }
  return bytes;
}

/** The weights of a weights-only safetensors file (the base checkpoint), by name. */
export function weightsFromSafetensors(bytes: Uint8Array): Params {
  const { tensors } = decodeSafetensors(bytes);
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, tensorToF32(t)]));
}
