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

export function frameStream(stream: Stream, maxFrameBytes: number, counters: SwarmCounters): FrameStream {
  const lp = lpStream(stream, { maxDataLength: maxFrameBytes });
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
  };
}

/** Reads the one request frame a stream of this job opens with; it must be a `type` message. */
export async function readRequest<T extends Message['type']>(
  stream: FrameStream,
  manifest: JobManifest,
  type: T,
  signal: AbortSignal,
): Promise<Extract<Message, { type: T }>> {
  const bytes = await stream.read(signal);
  if (!bytes) throw new UnexpectedRequestError(`the stream closed before its ${type}`);
  const decoded = decodeJobFrame(bytes, manifest, type);
  if (!('frame' in decoded)) throw new UnexpectedRequestError(`expected a ${type}: ${decoded.reason}`);
  return decoded.frame.message as Extract<Message, { type: T }>;
}
