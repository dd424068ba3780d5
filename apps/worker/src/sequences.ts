/** Local text files as training and held-out sequences, streamed piece by piece (memory flat in size). */
import { ByteTokenizer, streamSequences, type ByteSource, type Tokenizer } from '@slimswarm/performer';
import { fileSource } from '@slimswarm/performer/node';

/** The files one after another, as one stream of bytes. */
export function filesSource(paths: readonly string[]): ByteSource {
  return async function* () {
    for (const path of paths) yield* fileSource(path)();
  };
}

/**
 * Endless training sequences of L + 1 ids of the job's tokenizer (default: bytes), shuffled within a window, different
 * order per worker.
 */
export function trainingSequences(
  paths: readonly string[],
  seqLen: number,
  seed: number,
  tokenizer: Tokenizer = new ByteTokenizer(),
): AsyncIterator<Int32Array> {
  const stream = streamSequences(
    filesSource(paths),
    { seqLen, epochs: Infinity, shuffle: { bufferSize: 64, seed } },
    tokenizer,
  );
  return (async function* () {
    for await (const s of stream) yield s.tokens;
  })();
}

/** Held-out sequences worker 0 evaluates after each round: enough for a stable number, few enough to be quick. */
export const HELD_OUT_SEQUENCES = 24;

/** The first `limit` sequences of the held-out file. */
export async function heldOutSequences(
  path: string,
  seqLen: number,
  limit: number,
  tokenizer: Tokenizer = new ByteTokenizer(),
): Promise<Int32Array[]> {
  const out: Int32Array[] = [];
  for await (const s of streamSequences(fileSource(path), { seqLen, epochs: 1 }, tokenizer)) {
    out.push(s.tokens);
    if (out.length >= limit) break;
  }
  return out;
}
