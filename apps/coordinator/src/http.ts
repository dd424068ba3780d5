import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { logger } from '@libp2p/logger';
import { SECURITY_HEADERS } from './security-headers.js';

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

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

/**
 * A dynamic route answers with bytes it computes (`immutable`: content named by its hash, cacheable for
 * good); static mounts map a URL prefix onto a folder.
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

function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array | string,
  contentType: string,
  cache = 'no-cache',
): void {
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    ...SECURITY_HEADERS,
    'Content-Type': contentType,
    'Cache-Control': cache,
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

async function serveFile(res: ServerResponse, file: string, method: string): Promise<boolean> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (info.isDirectory()) return serveFile(res, join(file, 'index.html'), method);
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-cache',
  });
  if (method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
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
  if (route !== undefined) {
    const answer = await route();
    if (answer === undefined) return send(res, 404, 'not found\n', 'text/plain');
    const cache = answer.immutable ? 'public, max-age=31536000, immutable' : 'no-cache';
    return send(res, 200, method === 'HEAD' ? '' : answer.body, answer.contentType, cache);
  }
  // Longest prefix first, so '/dashboard/' wins over '/'.
  const prefixes = Object.keys(init.mounts).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!path.startsWith(prefix) && path + '/' !== prefix) continue;
    const file = resolveInside(init.mounts[prefix]!, path.slice(prefix.length));
    if (file !== undefined && (await serveFile(res, file, method))) return;
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
