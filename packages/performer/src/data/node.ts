/** Node-only text sources (not for browser bundles: it imports node:fs). */
import { createReadStream } from 'node:fs';
import { DataOptionsError } from './errors.js';
import type { ByteSource } from './source.js';

/** Default read size: large enough for few syscalls, small enough not to matter for memory. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** A file as a byte source, read in chunks of at most `chunkBytes`. */
export function fileSource(path: string, chunkBytes = DEFAULT_CHUNK_BYTES): ByteSource {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new DataOptionsError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  return () => createReadStream(path, { highWaterMark: chunkBytes });
}
