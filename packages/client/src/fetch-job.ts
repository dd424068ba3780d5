/**
 * Joining a job: the coordinator publishes the signed job, the base checkpoint and (for an `hf` job) the
 * tokenizer files over plain HTTP (same origin for browser tabs). All are checked here — the manifest by
 * its schema and the job key's signature (and, when the caller pins one, that it is that key), the
 * checkpoint and the tokenizer files by the sizes and SHA-256 the signed manifest names — so a volunteer
 * never trains on something the job's owner did not publish. Every body is read with a bound
 * (readBounded): the manifest's size for the base and each tokenizer file, maxApiJsonBytes for the
 * listing, so no body is buffered beyond what it may be (BodyTooLargeError).
 */
import {
  JobListing,
  PROTOCOL_LIMITS,
  SignedJob,
  decodeSafetensors,
  isProtocolError,
  readBounded,
  readBoundedJson,
  sha256Hex,
  tensorToF32,
  verifySignedJob,
  type JobManifest,
  type Tensor,
} from '@slimswarm/protocol';
import { loadTokenizer, type Params, type Tokenizer, type TokenizerFiles } from '@slimswarm/performer';
import { z } from 'zod';

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

async function get(url: URL, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (e) {
    // The caller's abort (or timeout) is theirs to name, not a coordinator that cannot be reached.
    signal?.throwIfAborted();
    throw new JobFetchError(`cannot reach ${url.origin}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new JobFetchError(`${url} answered ${res.status}`);
  return res;
}

/** The listing with its job left for verifySignedJob. */
const ListingAround = JobListing.extend({ job: z.unknown() });

/** A listing whose job verified: `manifest` is the signed manifest. */
export interface VerifiedListing extends JobListing {
  manifest: JobManifest;
}

/**
 * Reads and verifies the listing. Throws JobFetchError when it cannot be read, BodyTooLargeError (from
 * @slimswarm/protocol) when it is longer than maxApiJsonBytes, JobSignatureError when the job's signature
 * does not verify, JobKeyMismatchError when the job is signed by another key than `pinnedKey`.
 */
export async function fetchJob(
  coordinator: string | URL,
  opts: { pinnedKey?: string; signal?: AbortSignal } = {},
): Promise<VerifiedListing> {
  const res = await get(new URL('/api/job', coordinator), opts.signal);
  let body: unknown;
  try {
    body = await readBoundedJson(res, PROTOCOL_LIMITS.maxApiJsonBytes, 'job listing');
  } catch (e) {
    if (isProtocolError(e)) throw e;
    throw new JobFetchError(`${res.url} did not answer JSON: ${(e as Error).message}`);
  }
  const parsed = ListingAround.safeParse(body);
  if (!parsed.success) throw new JobFetchError(`invalid job listing: ${parsed.error.issues[0]?.message}`);
  // The job is judged by verifySignedJob alone, so a bad or missing signature is named as such.
  const manifest = verifySignedJob(parsed.data.job, opts);
  return { ...parsed.data, job: SignedJob.parse(parsed.data.job), manifest };
}

/** The base checkpoint, read up to its size in the manifest. Throws BaseHashMismatchError, BodyTooLargeError. */
export async function fetchBase(
  coordinator: string | URL,
  manifest: JobManifest,
  opts: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const res = await get(new URL('/api/base', coordinator), opts.signal);
  const bytes = await readBounded(res, manifest.baseCheckpoint.bytes, 'base checkpoint');
  if (
    bytes.byteLength !== manifest.baseCheckpoint.bytes ||
    sha256Hex(bytes) !== manifest.baseCheckpoint.sha256
  ) {
    throw new BaseHashMismatchError(`base checkpoint does not match ${manifest.baseCheckpoint.sha256}`);
  }
  return bytes;
}

/**
 * The job's tokenizer: the byte tokenizer, or the files an `hf` spec names, fetched by hash
 * (`/api/tokenizer/<sha256>`), each read up to the size the spec names, and checked by loadTokenizer
 * before they are parsed. Throws JobFetchError, BodyTooLargeError, or performer's
 * TokenizerFileMismatchError, TokenizerFormatError, TokenizerVocabularyError.
 */
export async function fetchTokenizer(
  coordinator: string | URL,
  manifest: JobManifest,
  opts: { signal?: AbortSignal } = {},
): Promise<Tokenizer> {
  const { tokenizer: spec, model } = manifest;
  const files: TokenizerFiles = {};
  if (spec.kind === 'hf') {
    for (const role of ['tokenizer', 'config'] as const) {
      const file = spec[role];
      if (file === undefined) continue;
      const res = await get(new URL(`/api/tokenizer/${file.sha256}`, coordinator), opts.signal);
      files[role] = await readBounded(res, file.bytes, `tokenizer file ${file.sha256}`);
    }
  }
  return loadTokenizer(spec, files, model.vocabSize);
}

/**
 * The weights of a weights-only safetensors file (the base checkpoint), by name: copies by default, or
 * with `tensorViewF32` views over `bytes` (no second copy of the base; they share its buffer).
 */
export function weightsFromSafetensors(
  bytes: Uint8Array,
  read: (t: Tensor) => Float32Array = tensorToF32,
): Params {
  const { tensors } = decodeSafetensors(bytes);
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, read(t)]));
}
