/**
 * HTTP caching and content negotiation of what the coordinator serves: which Cache-Control a response
 * gets, strong ETags and the If-None-Match check that answers 304, and which precompressed twin of a
 * file (`.br`, `.gz`, written next to it by the pages' build, tools/precompress.ts) an Accept-Encoding
 * allows. Nothing here compresses: every byte served was compressed once, at build time.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, relative, sep } from 'node:path';

/** Content named by its hash never changes under its URL: a cache may keep it for good. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Anything else may be cached, but is checked with the server (a 304 when unchanged) before each use. */
export const REVALIDATE = 'no-cache';

export type Encoding = 'br' | 'gzip' | 'identity';

/** Precompressed twins, best first: brotli is smaller than gzip on every file the pages ship. */
export const TWINS: readonly { encoding: Exclude<Encoding, 'identity'>; suffix: string }[] = [
  { encoding: 'br', suffix: '.br' },
  { encoding: 'gzip', suffix: '.gz' },
];

/**
 * Whether a file under a mount is one of the build's content-hashed outputs: Vite writes those (and only
 * those) to `assets/`, named `name-<hash>.ext` (the hash: 8 characters of [A-Za-z0-9_-]).
 */
export function isHashedAsset(root: string, file: string): boolean {
  const inside = relative(root, file).split(sep);
  return inside.length === 2 && inside[0] === 'assets' && /-[\w-]{8}\.[\w.]+$/.test(basename(file));
}

/**
 * The encodings an Accept-Encoding header allows (RFC 9110 §12.5.3): listed with q > 0, or covered by
 * `*`. identity is acceptable unless refused outright; a missing header allows identity only, as no
 * client that sends none can be assumed to decode anything.
 */
export function acceptedEncodings(header: string | undefined): Set<Encoding> {
  const accepted = new Set<Encoding>(['identity']);
  if (header === undefined) return accepted;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [token = '', ...params] = part.trim().toLowerCase().split(';');
    if (token === '') continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qParam === undefined ? 1 : Number(qParam.slice(2));
    q.set(token, Number.isFinite(value) ? value : 0);
  }
  const star = q.get('*');
  for (const encoding of ['br', 'gzip', 'identity'] as const) {
    const value = q.get(encoding) ?? (encoding === 'gzip' ? q.get('x-gzip') : undefined) ?? star;
    if (value === undefined) continue;
    if (value > 0) accepted.add(encoding);
    else accepted.delete(encoding);
  }
  return accepted;
}

/** A strong ETag for these bytes: each representation (every encoding of a file) gets its own. */
export function etagOf(bytes: Uint8Array | string): string {
  return `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
}

/** The ETag of a file's bytes, hashed as a stream (the ORT wasm is tens of MB). */
export function fileEtag(file: string): Promise<string> {
  return new Promise((ok, fail) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', fail)
      .on('end', () => ok(`"${hash.digest('base64url').slice(0, 27)}"`));
  });
}

/**
 * Whether If-None-Match names the current ETag, so the client's copy is current (a 304). It uses the
 * weak comparison RFC 9110 §13.1.2 prescribes for this header: a `W/` prefix on either side is ignored.
 */
export function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(etag));
}
