import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedEncodings, isHashedAsset, notModified } from '../src/caching.js';
import { startHttp, type HttpService } from '../src/http.js';
import { CONTENT_SECURITY_POLICY } from '../src/security-headers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: fetch() would add its own Accept-Encoding and decode the body. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

const WASM = Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), Buffer.alloc(4000, 7)]);
const INDEX = '<!doctype html><title>t</title>' + '<p>page</p>'.repeat(200);
const BASE = new Uint8Array(1000).fill(3);

describe("the coordinator's caching and precompressed files", () => {
  let dir: string;
  let http: HttpService;
  const url = (path: string) => new URL(path, http.url).href;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-caching-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), INDEX);
    await writeFile(join(dir, 'index.html.gz'), gzipSync(INDEX));
    await writeFile(join(dir, 'assets', 'ort-Ab3_x-9Z.wasm'), WASM);
    await writeFile(join(dir, 'assets', 'ort-Ab3_x-9Z.wasm.br'), brotliCompressSync(WASM));
    await writeFile(join(dir, 'assets', 'ort-Ab3_x-9Z.wasm.gz'), gzipSync(WASM));
    await writeFile(join(dir, 'plain.txt'), 'unhashed\n');
    http = await startHttp({
      host: '127.0.0.1',
      port: 0,
      mounts: { '/': dir },
      routes: {
        '/api/base': () => ({ body: BASE, contentType: 'application/octet-stream' }),
        '/api/tokenizer/x': () => ({ body: '{}', contentType: 'application/json', immutable: true }),
      },
    });
  });
  afterAll(async () => {
    await http.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serve hashed assets as immutable, with an ETag, in the best encoding accepted', async () => {
    const br = await get(url('/assets/ort-Ab3_x-9Z.wasm'), { 'accept-encoding': 'gzip, deflate, br, zstd' });
    expect(br.status).toBe(200);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toBe('application/wasm');
    expect(br.headers['vary']).toBe('Accept-Encoding');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(brotliDecompressSync(br.body)).toEqual(WASM);
    expect(br.headers['etag']).toMatch(/^"[\w-]{27}"$/);

    const gz = await get(url('/assets/ort-Ab3_x-9Z.wasm'), { 'accept-encoding': 'gzip, br;q=0' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body)).toEqual(WASM);
    expect(gz.headers['etag']).not.toBe(br.headers['etag']);

    const plain = await get(url('/assets/ort-Ab3_x-9Z.wasm'));
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toEqual(WASM);
    expect(Number(plain.headers['content-length'])).toBe(WASM.length);
    expect(new Set([plain.headers['etag'], gz.headers['etag'], br.headers['etag']]).size).toBe(3);
  });

  it('revalidate pages and unhashed files: no-cache, and a 304 for the ETag the client holds', async () => {
    const page = await get(url('/'), { 'accept-encoding': 'br, gzip' });
    expect(page.headers['cache-control']).toBe('no-cache');
    // No .br twin of index.html: gzip is the best there is.
    expect(page.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(page.body).toString()).toBe(INDEX);
    const etag = String(page.headers['etag']);
    const again = await get(url('/'), { 'accept-encoding': 'br, gzip', 'if-none-match': `"other", ${etag}` });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers['etag']).toBe(etag);
    expect(again.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(again.headers['cross-origin-embedder-policy']).toBe('require-corp');
    // The identity representation has an ETag of its own, so the gzip one does not validate it.
    expect((await get(url('/'), { 'if-none-match': etag })).status).toBe(200);

    const txt = await get(url('/plain.txt'));
    expect(txt.headers['cache-control']).toBe('no-cache');
    expect((await get(url('/plain.txt'), { 'if-none-match': String(txt.headers['etag']) })).status).toBe(304);
  });

  it('give API answers ETags too, immutable only where the route says so', async () => {
    const base = await get(url('/api/base'));
    expect(base.headers['cache-control']).toBe('no-cache');
    expect(new Uint8Array(base.body)).toEqual(BASE);
    const revalidated = await get(url('/api/base'), { 'if-none-match': String(base.headers['etag']) });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    const tokenizer = await get(url('/api/tokenizer/x'));
    expect(tokenizer.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(tokenizer.headers['etag']).toMatch(/^"[\w-]{27}"$/);
  });

  it('answer HEAD with the headers alone', async () => {
    const head = await get(url('/assets/ort-Ab3_x-9Z.wasm'), { 'accept-encoding': 'br' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-encoding']).toBe('br');
    expect(Number(head.headers['content-length'])).toBe(brotliCompressSync(WASM).length);
  });
});

describe('Accept-Encoding', () => {
  it('allows what is listed with q > 0 or covered by *, and identity unless refused', () => {
    expect([...acceptedEncodings(undefined)]).toEqual(['identity']);
    expect(acceptedEncodings('gzip, deflate, br')).toEqual(new Set(['identity', 'gzip', 'br']));
    expect(acceptedEncodings('br;q=0, gzip;q=0.5')).toEqual(new Set(['identity', 'gzip']));
    expect(acceptedEncodings('*')).toEqual(new Set(['identity', 'gzip', 'br']));
    expect(acceptedEncodings('*;q=0, x-gzip')).toEqual(new Set(['gzip']));
    expect(acceptedEncodings('BR; Q=1')).toEqual(new Set(['identity', 'br']));
  });
});

describe('hashed assets and If-None-Match', () => {
  it("names only the build's assets/name-<hash>.ext immutable", () => {
    expect(isHashedAsset('/d', '/d/assets/index-BXyz12_a.js')).toBe(true);
    expect(isHashedAsset('/d', '/d/assets/ort-wasm-simd-threaded-D-4kLm9q.wasm')).toBe(true);
    expect(isHashedAsset('/d', '/d/index.html')).toBe(false);
    expect(isHashedAsset('/d', '/d/assets/logo.svg')).toBe(false);
    expect(isHashedAsset('/d', '/d/ort/ort-wasm-simd-threaded.wasm')).toBe(false);
    expect(isHashedAsset('/d', '/d/assets/sub/x-12345678.js')).toBe(false);
  });

  it('matches any listed tag, weakly, and *', () => {
    expect(notModified(undefined, '"a"')).toBe(false);
    expect(notModified('"b", W/"a"', '"a"')).toBe(true);
    expect(notModified('*', '"a"')).toBe(true);
    expect(notModified('"ab"', '"a"')).toBe(false);
  });
});
