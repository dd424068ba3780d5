/**
 * The worker's data policy, for the demo's centralized run, which must see text exactly as a worker does:
 * apps/worker/src/sequences.ts (training order, held-out selection) and its HELD_OUT_SEQUENCES, which
 * @slimswarm/worker does not export. Until it does (then this file goes), the demo checks at run time that
 * the centralized run and worker 0 score the base model alike (demo.ts), so the two cannot drift apart
 * unnoticed.
 */
import { streamSequences } from '@slimswarm/performer';
import { fileSource } from '@slimswarm/performer/node';

/** Held-out sequences worker 0 evaluates after each round (apps/worker/src/worker.ts). */
export const HELD_OUT_SEQUENCES = 24;

/** Endless training sequences of L + 1 ids from one file, shuffled within a window (as a worker's). */
export function trainingSequences(path: string, seqLen: number, seed: number): AsyncIterator<Int32Array> {
  const stream = streamSequences(fileSource(path), {
    seqLen,
    epochs: Infinity,
    shuffle: { bufferSize: 64, seed },
  });
  return (async function* () {
    for await (const s of stream) yield s.tokens;
  })();
}

/** The first `limit` sequences of the held-out file. */
export async function heldOutSequences(path: string, seqLen: number, limit: number): Promise<Int32Array[]> {
  const out: Int32Array[] = [];
  for await (const s of streamSequences(fileSource(path), { seqLen, epochs: 1 })) {
    out.push(s.tokens);
    if (out.length >= limit) break;
  }
  return out;
}
