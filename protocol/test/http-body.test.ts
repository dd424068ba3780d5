/**
 * readBounded against a real loopback HTTP server: a body longer than allowed is refused from its
 * Content-Length, or as soon as more bytes arrive than allowed (the client cancels and the server sees the
 * connection close), and a body of exactly the limit is read whole.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyTooLargeError, readBounded } from '../src/index.js';

const LIMIT = 1 << 20;
const CHUNK = 64 << 10;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A loopback server answering every request with `answer`; resolves its URL. */
async function serve(answer: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((_req, res) => answer(res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Writes `total` bytes in CHUNK-sized writes as fast as the client reads them (waiting for drain), with no
 * Content-Length (chunked). `written` resolves with the bytes handed to the socket when the connection
 * closed or the body ended.
 */
function stream(total: number) {
  let resolveWritten: (bytes: number) => void;
  const written = new Promise<number>((r) => (resolveWritten = r));
  const answer = (res: ServerResponse) => {
    let sent = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
      resolveWritten(sent);
    });
    const chunk = new Uint8Array(CHUNK).fill(7);
    const pump = () => {
      while (!closed && sent < total) {
        const part = chunk.subarray(0, Math.min(CHUNK, total - sent));
        sent += part.length;
        if (!res.write(part)) return void res.once('drain', pump);
      }
      if (!closed) res.end();
    };
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    pump();
  };
  return { answer, written };
}

async function refusal(p: Promise<unknown>): Promise<BodyTooLargeError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BodyTooLargeError);
  expect((e as Error).name).toBe('BodyTooLargeError');
  return e as BodyTooLargeError;
}

describe('readBounded', () => {
  it('refuses a body whose Content-Length is over the limit before reading any of it', async () => {
    let closed!: Promise<unknown>;
    const url = await serve((res) => {
      closed = once(res, 'close');
      // Headers only: the body never comes, so only the declared length can end this.
      res.writeHead(200, { 'content-length': String(LIMIT + 1) });
      res.flushHeaders();
    });
    const e = await refusal(fetch(url).then((res) => readBounded(res, LIMIT, 'test body')));
    expect([e.bytes, e.maxBytes]).toEqual([LIMIT + 1, LIMIT]);
    await closed; // the client hung up
  });

  it('cancels a chunked body without Content-Length as soon as it passes the limit', async () => {
    const endless = stream(64 << 20);
    const url = await serve(endless.answer);
    const e = await refusal(fetch(url).then((res) => readBounded(res, LIMIT, 'test body')));
    // Refused at the first read that crossed the limit (a socket read is at most one chunk's worth).
    expect(e.bytes).toBeGreaterThan(LIMIT);
    expect(e.bytes).toBeLessThanOrEqual(LIMIT + CHUNK);
    // The server stopped because the client closed, far short of the 64 MiB it would have sent.
    const sent = await endless.written;
    expect(sent).toBeLessThan(32 << 20);
  });

  it('reads a body of exactly the limit, chunked or with its Content-Length', async () => {
    const chunked = stream(LIMIT);
    const a = await readBounded(await fetch(await serve(chunked.answer)), LIMIT, 'test body');
    expect(a.length).toBe(LIMIT);
    expect(a.every((x) => x === 7)).toBe(true);
    const body = new Uint8Array(LIMIT).map((_, i) => i % 251);
    const url = await serve((res) => res.writeHead(200, { 'content-length': String(LIMIT) }).end(body));
    const b = await readBounded(await fetch(url), LIMIT, 'test body');
    expect(Buffer.from(b).equals(Buffer.from(body))).toBe(true);
    expect((await readBounded(await fetch(url), LIMIT, 'test body')).byteLength).toBe(LIMIT);
  });
});
