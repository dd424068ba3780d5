/**
 * Which bytes answer a request for a file of a mounted folder: the file itself or the best precompressed
 * twin the client accepts, with its size, strong ETag and caching rule (caching.ts).
 */
import { stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  IMMUTABLE,
  REVALIDATE,
  TWINS,
  acceptedEncodings,
  fileEtag,
  isHashedAsset,
  type Encoding,
} from './caching.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  // Kept for compressed twins too: WebAssembly.compileStreaming requires it.
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

export interface FileRepresentation {
  /** The file whose bytes are sent: the requested one or a twin of it. */
  path: string;
  size: number;
  encoding: Encoding;
  etag: string;
  contentType: string;
  cacheControl: string;
}

/** ETags by file, valid while the file keeps its size and modification time (a rebuild replaces both). */
const etags = new Map<string, { mtimeMs: number; size: number; etag: string }>();

async function etagOf(file: string, mtimeMs: number, size: number): Promise<string> {
  const known = etags.get(file);
  if (known && known.mtimeMs === mtimeMs && known.size === size) return known.etag;
  const etag = await fileEtag(file);
  etags.set(file, { mtimeMs, size, etag });
  return etag;
}

async function fileStat(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/**
 * What answers a request for `file` (inside mount `root`; a folder means its index.html), or undefined
 * when there is no such file.
 */
export async function representFile(
  root: string,
  file: string,
  acceptEncoding: string | undefined,
): Promise<FileRepresentation | undefined> {
  const info = await fileStat(file);
  if (info === undefined) return undefined;
  if (info.isDirectory()) return representFile(root, join(file, 'index.html'), acceptEncoding);
  if (!info.isFile()) return undefined;
  const common = {
    contentType: CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    cacheControl: isHashedAsset(root, file) ? IMMUTABLE : REVALIDATE,
  };
  const accepted = acceptedEncodings(acceptEncoding);
  for (const { encoding, suffix } of TWINS) {
    if (!accepted.has(encoding)) continue;
    const twin = await fileStat(file + suffix);
    // A twin older than its file is left from an earlier build: the file was rebuilt without it.
    if (twin === undefined || !twin.isFile() || twin.mtimeMs < info.mtimeMs) continue;
    const etag = await etagOf(file + suffix, twin.mtimeMs, twin.size);
    return { ...common, path: file + suffix, size: twin.size, encoding, etag };
  }
  const etag = await etagOf(file, info.mtimeMs, info.size);
  return { ...common, path: file, size: info.size, encoding: 'identity', etag };
}
