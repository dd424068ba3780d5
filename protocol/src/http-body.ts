/**
 * Reading an HTTP body (fetch's Response, in Node and browsers) with a byte limit: a hostile coordinator,
 * or whoever sits on a plain-http link, could otherwise make a peer buffer a body of any length.
 */
import { BodyTooLargeError } from './errors.js';

/**
 * The body of `res`, at most `maxBytes` long. Refused before reading when its Content-Length says more,
 * and as soon as more arrive (the stream is cancelled, so the connection closes). `what` names the body
 * in the error. Throws BodyTooLargeError.
 */
export async function readBounded(res: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const declared = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (declared !== null && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(what, declared, maxBytes);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  // Sized by the declared length where there is one (a body is read into one buffer, not chunks and a
  // copy); grown by doubling where there is none, or when more arrives than declared.
  let buf = new Uint8Array(declared ?? Math.min(maxBytes, 64 << 10));
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const end = length + value.length;
    if (end > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(what, end, maxBytes);
    }
    if (end > buf.length) {
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(2 * buf.length, end)));
      grown.set(buf.subarray(0, length));
      buf = grown;
    }
    buf.set(value, length);
    length = end;
  }
  return length === buf.length ? buf : buf.slice(0, length);
}

/** A JSON body of at most `maxBytes` (readBounded), parsed; a SyntaxError when it is not JSON. */
export async function readBoundedJson(res: Response, maxBytes: number, what: string): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await readBounded(res, maxBytes, what)));
}
