import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { normalize, resolve, sep } from 'node:path';
import { logger } from '@libp2p/logger';
import { IMMUTABLE, REVALIDATE, etagOf, notModified } from './caching.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { representFile } from './static-files.js';

const log = logger('slimswarm:coordinator:http');

/**
 * Cross-origin isolation lets onnxruntime-web use wasm threads (SharedArrayBuffer) in a tab; without these
 * headers the browser falls back to one thread.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * A dynamic route answers with bytes it computes (`immutable`: content named by its hash, cacheable for
 * good; anything else is revalidated by ETag); static mounts map a URL prefix onto a folder, whose
 * content-hashed assets are immutable and whose precompressed twins are served to clients that accept
 * them (static-files.ts).
 */
export type RouteAnswer = { body: Uint8Array | string; contentType: string; immutable?: boolean } | undefined;
export type Route = () => RouteAnswer | Promise<RouteAnswer>;
/** A POST route gets the request's JSON body (unknown: the route validates it) and answers with a status. */
export type PostRoute = (body: unknown) => Promise<{ status: number; body: string; contentType: string }>;

/** Largest POST body read; the only POST (a ticket request) is a few hundred bytes. */
const MAX_POST_BYTES = 16 << 10;

export interface HttpInit {
  host: string;
  port: number;
  /** URL prefix ('/', '/dashboard/') → folder. A missing folder answers 404, it does not crash. */
  mounts: Record<string, string>;
  routes: Record<string, Route>;
  posts?: Record<string, PostRoute>;
}

export interface HttpService {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Answers that are no cacheable representation (POST replies, errors): sent as they are, no ETag. */
function send(res: ServerResponse, status: number, body: Uint8Array | string, contentType: string): void {
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    ...SECURITY_HEADERS,
    'Content-Type': contentType,
    'Cache-Control': REVALIDATE,
  });
  res.end(body);
}

/** Resolves a URL path inside `root`, refusing anything that escapes it (`..`, encoded separators). */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const rootAbs = resolve(root);
  const target = resolve(rootAbs, '.' + normalize('/' + decoded));
  return target === rootAbs || target.startsWith(rootAbs + sep) ? target : undefined;
}

/** ETags of route bodies that are bytes (the base checkpoint: megabytes, the same object every time). */
const routeEtags = new WeakMap<Uint8Array, string>();

function routeEtag(body: Uint8Array | string): string {
  if (typeof body === 'string') return etagOf(body);
  let etag = routeEtags.get(body);
  if (etag === undefined) routeEtags.set(body, (etag = etagOf(body)));
  return etag;
}

/** The headers of a 304: what the 200 would have said about caching, without the body's. */
function sendNotModified(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(304, { ...ISOLATION_HEADERS, ...SECURITY_HEADERS, ...headers });
  res.end();
}

async function serveRoute(req: IncomingMessage, res: ServerResponse, route: Route, method: string) {
  const answer = await route();
  if (answer === undefined) return send(res, 404, 'not found\n', 'text/plain');
  const cache = { 'Cache-Control': answer.immutable ? IMMUTABLE : REVALIDATE, ETag: routeEtag(answer.body) };
  if (notModified(req.headers['if-none-match'], cache.ETag)) return sendNotModified(res, cache);
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    ...SECURITY_HEADERS,
    'Content-Type': answer.contentType,
    ...cache,
  });
  res.end(method === 'HEAD' ? '' : answer.body);
}

async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  file: string,
  method: string,
) {
  const found = await representFile(root, file, req.headers['accept-encoding']);
  if (found === undefined) return false;
  // Vary on every file, twins or not: a shared cache must not hand one client's encoding to another.
  const cache = { 'Cache-Control': found.cacheControl, ETag: found.etag, Vary: 'Accept-Encoding' };
  if (notModified(req.headers['if-none-match'], found.etag)) {
    sendNotModified(res, cache);
    return true;
  }
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    ...SECURITY_HEADERS,
    'Content-Type': found.contentType,
    'Content-Length': found.size,
    ...(found.encoding === 'identity' ? {} : { 'Content-Encoding': found.encoding }),
    ...cache,
  });
  if (method === 'HEAD') res.end();
  else createReadStream(found.path).pipe(res);
  return true;
}

/** The request body as JSON, or undefined when it is too long or not JSON (the route then answers 400). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_POST_BYTES) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

async function handle(init: HttpInit, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const post = init.posts?.[path];
  if (method === 'POST' && post !== undefined) {
    const answer = await post(await readJson(req));
    return send(res, answer.status, answer.body, answer.contentType);
  }
  if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'method not allowed\n', 'text/plain');
  const route = init.routes[path];
  if (route !== undefined) return serveRoute(req, res, route, method);
  // Longest prefix first, so '/dashboard/' wins over '/'.
  const prefixes = Object.keys(init.mounts).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!path.startsWith(prefix) && path + '/' !== prefix) continue;
    const root = init.mounts[prefix]!;
    const file = resolveInside(root, path.slice(prefix.length));
    if (file !== undefined && (await serveFile(req, res, resolve(root), file, method))) return;
    break;
  }
  send(res, 404, 'not found\n', 'text/plain');
}

export async function startHttp(init: HttpInit): Promise<HttpService> {
  const server = createServer((req, res) => {
    handle(init, req, res).catch((err: unknown) => {
      log.error('request failed: %e', err);
      if (!res.headersSent) send(res, 500, 'internal error\n', 'text/plain');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(init.port, init.host, () => ok());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : init.port;
  return {
    server,
    url: `http://${init.host}:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
