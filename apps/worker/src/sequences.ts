/** Local text files as training and held-out sequences, streamed piece by piece (memory flat in size). */
import { ByteTokenizer, streamSequences, type ByteSource, type Tokenizer } from '@slimswarm/performer';
import { fileSource } from '@slimswarm/performer/node';
import { localTrainingSequences, type ScrubReport } from '@slimswarm/client';

/** The files one after another, as one stream of bytes. */
export function filesSource(paths: readonly string[]): ByteSource {
  return async function* () {
    for (const path of paths) yield* fileSource(path)();
  };
}

/**
 * Endless training sequences of L + 1 ids of the job's tokenizer (default: bytes), shuffled within a window, different
 * order per worker; PII scrubbed first when `scrub` takes the counts (@slimswarm/client's localTrainingSequences).
 */
export function trainingSequences(
  paths: readonly string[],
  seqLen: number,
  seed: number,
  tokenizer: Tokenizer = new ByteTokenizer(),
  scrub?: (report: ScrubReport) => void,
): AsyncIterator<Int32Array> {
  return localTrainingSequences(filesSource(paths), { seqLen, seed, tokenizer, ...(scrub ? { scrub } : {}) });
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
