/**
 * The one byte-counting stream wrapper: libp2p streams as length-prefixed frames (network.ts
 * FrameStream), every frame counted in the swarm's stats; and the request each stream opens with.
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { JobManifest, Message } from '@slimswarm/protocol';
import { decodeJobFrame } from './delta-verdict.js';
import { UnexpectedRequestError } from './errors.js';
import type { FrameStream } from './network.js';
import type { SwarmCounters } from './stats.js';

/** Bytes of the longest varint length prefix. */
const MAX_PREFIX_BYTES = 10;

/**
 * Frames of at most `maxFrameBytes`: a longer length prefix fails the read before any of the frame is read
 * (lpStream checks it first), and the read buffer is held to one frame (lpStream's default, 4 MiB, would
 * fail any larger legal frame).
 */
export function frameStream(stream: Stream, maxFrameBytes: number, counters: SwarmCounters): FrameStream {
  const lp = lpStream(stream, {
    maxDataLength: maxFrameBytes,
    maxBufferSize: maxFrameBytes + MAX_PREFIX_BYTES,
  });
  return {
    async read(signal) {
      let bytes: Uint8Array;
      try {
        bytes = (await lp.read({ signal })).subarray();
      } catch (err) {
        if ((err as Error).name === 'UnexpectedEOFError') return null;
        throw err;
      }
      counters.bytes(bytes.length, 0);
      return bytes;
    },
    async write(frame, signal) {
      await lp.write(frame, { signal });
      counters.bytes(0, frame.length);
    },
    async close(signal) {
      await lp.unwrap().close({ signal });
    },
    abort(err) {
      lp.unwrap().abort(err);
    },
  };
}

/** Reads the one request frame a stream of this job opens with; it must be a message of one of `types`. */
export async function readRequest<T extends Message['type']>(
  stream: FrameStream,
  manifest: JobManifest,
  types: T | readonly T[],
  signal: AbortSignal,
): Promise<Extract<Message, { type: T }>> {
  const expected = typeof types === 'string' ? types : types.join(' or ');
  const bytes = await stream.read(signal);
  if (!bytes) throw new UnexpectedRequestError(`the stream closed before its ${expected}`);
  const decoded = decodeJobFrame(bytes, manifest, types);
  if (!('frame' in decoded)) throw new UnexpectedRequestError(`expected a ${expected}: ${decoded.reason}`);
  return decoded.frame.message as Extract<Message, { type: T }>;
}
