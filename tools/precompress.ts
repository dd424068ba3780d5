/**
 * A Vite plugin that writes a brotli (`.br`) and a gzip (`.gz`) twin next to every compressible file of a
 * build, for the coordinator to serve to clients that accept them (apps/coordinator/src/static-files.ts):
 * compressed once here, at the strongest settings, rather than per request. Brotli at quality 11 takes
 * about a minute for onnxruntime's 14 MB wasm on a shared core, so each result is kept in Vite's cache
 * folder under the hash of its input, and a rebuild whose files did not change compresses nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { Plugin } from 'vite';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Text and wasm compress well; images and fonts the build might hold already are compressed. */
const TEXT = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.txt', '.map']);
const BINARY = new Set(['.wasm']);
/** Below this the headers outweigh what compression saves. */
const MIN_BYTES = 1024;
/** Part of every cache key: a change of settings must not reuse results made with the old ones. */
const SETTINGS = 'br11-lgwin-fit/gzip9';

export interface PrecompressStats {
  files: number;
  bytes: number;
  brotliBytes: number;
  gzipBytes: number;
}

async function* filesUnder(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) yield path;
  }
}

/** The smallest brotli window that holds the whole input (10 to 24 bits), so small files decode small. */
function windowBits(size: number): number {
  return Math.max(constants.BROTLI_MIN_WINDOW_BITS, Math.min(24, Math.ceil(Math.log2(Math.max(size, 1)))));
}

function compressBrotli(bytes: Buffer, text: boolean): Promise<Buffer> {
  return brotli(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_LGWIN]: windowBits(bytes.length),
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
}

/** `make()`'s result for this key, from the cache folder when an earlier build made it. */
async function cached(cacheDir: string, key: string, make: () => Promise<Buffer>): Promise<Buffer> {
  const path = join(cacheDir, key);
  try {
    return await readFile(path);
  } catch {
    const made = await make();
    await mkdir(cacheDir, { recursive: true });
    // Written aside and renamed: two builds at once (the tests build both apps) never read half a file.
    const partial = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await writeFile(partial, made);
    await rename(partial, path);
    return made;
  }
}

/** Writes `file`'s twins (each only if it is smaller than the file) and says how large they are. */
async function precompressFile(file: string, cacheDir: string): Promise<{ br: number; gz: number }> {
  const bytes = await readFile(file);
  const text = TEXT.has(extname(file));
  const hash = createHash('sha256').update(SETTINGS).update(bytes).digest('hex');
  const [br, gz] = await Promise.all([
    cached(cacheDir, `${hash}.br`, () => compressBrotli(bytes, text)),
    cached(cacheDir, `${hash}.gz`, () => gzipAsync(bytes, { level: 9 })),
  ]);
  // Twins are written after the file, so the coordinator can tell them from stale ones by their age.
  if (br.length < bytes.length) await writeFile(file + '.br', br);
  if (gz.length < bytes.length) await writeFile(file + '.gz', gz);
  return { br: Math.min(br.length, bytes.length), gz: Math.min(gz.length, bytes.length) };
}

/** Precompresses every compressible file under `dir`; `cacheDir` keeps results between builds. */
export async function precompressDir(dir: string, cacheDir: string): Promise<PrecompressStats> {
  const files: { path: string; size: number }[] = [];
  for await (const path of filesUnder(dir)) {
    const ext = extname(path);
    if (!TEXT.has(ext) && !BINARY.has(ext)) continue;
    const { size } = await stat(path);
    if (size >= MIN_BYTES) files.push({ path, size });
  }
  // All at once: zlib compresses on libuv's thread pool, so the files share the machine's cores.
  const sizes = await Promise.all(files.map((f) => precompressFile(f.path, cacheDir)));
  return {
    files: files.length,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    brotliBytes: sizes.reduce((sum, s) => sum + s.br, 0),
    gzipBytes: sizes.reduce((sum, s) => sum + s.gz, 0),
  };
}

/** The plugin: precompresses the build's output folder once everything is written to it. */
export function precompress(): Plugin {
  let cacheDir = '';
  return {
    name: 'slimswarm:precompress',
    apply: 'build',
    configResolved(config) {
      cacheDir = join(config.cacheDir, 'precompress');
    },
    async writeBundle(output) {
      if (output.dir === undefined) throw new Error('precompress needs a build that writes to a folder');
      const stats = await precompressDir(output.dir, cacheDir);
      this.info(
        `precompressed ${stats.files} files, ${stats.bytes} B → brotli ${stats.brotliBytes} B, gzip ${stats.gzipBytes} B`,
      );
    },
  };
}
