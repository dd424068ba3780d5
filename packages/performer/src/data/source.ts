/**
 * Training sequences streamed from text of any size, with memory flat in the size of the text: bytes are
 * pulled from the source one chunk at a time, only when the next sequence needs them, and nothing but the
 * sequence being filled (plus the optional shuffle buffer) is kept. Browser-safe; Node files are in node.ts.
 *
 * With the byte tokenizer the token ids are the bytes themselves, so no decoding happens here.
 * Sequence i holds tokens [i·L, i·L + L] (L + 1 ids: L inputs and their L next-token targets), so
 * consecutive sequences overlap by one token and every byte after the first is a target exactly once.
 */
import { z } from 'zod';
import { Seed } from '@slimswarm/protocol';
import { Rng } from '../model/random.js';
import { DataOptionsError, SourceTooShortError } from './errors.js';

/** Opens the text afresh (once per pass when cycling); any async iterable of byte chunks will do. */
export type ByteSource = () => AsyncIterable<Uint8Array>;

export interface TextSequence {
  /** Position of the sequence in one pass over the text: the split is decided by it. */
  index: number;
  /** Pass over the text it came from, 0-based. */
  epoch: number;
  /** L + 1 token ids. */
  tokens: Int32Array;
}

export const SequenceOptions = z
  .object({
    /** L: each sequence has L + 1 ids. */
    seqLen: z
      .number()
      .int()
      .min(1)
      .max(1 << 24),
    /** Passes over the text; Infinity cycles forever. */
    epochs: z.number().int().min(1).or(z.literal(Infinity)).default(1),
    /** Keep only one side of the held-out split (see isHeldOut). */
    split: z
      .object({
        take: z.enum(['train', 'heldout']),
        heldOutFraction: z.number().min(0).max(1),
        seed: Seed,
      })
      .strict()
      .optional(),
    /**
     * Shuffle through a buffer of this many sequences (tf.data style): memory stays bounded, the order
     * is random within a window of bufferSize sequences. Deterministic for a seed.
     */
    shuffle: z
      .object({
        bufferSize: z
          .number()
          .int()
          .min(1)
          .max(1 << 20),
        seed: Seed,
      })
      .strict()
      .optional(),
  })
  .strict();
export type SequenceOptions = z.input<typeof SequenceOptions>;

/**
 * Whether sequence `index` belongs to the held-out set: a hash of (seed, index) against the fraction, so
 * it is the same on every peer and in every pass, and needs no list of indices.
 */
export function isHeldOut(index: number, heldOutFraction: number, seed: number): boolean {
  return new Rng(seed, `split/${index}`).uniform() < heldOutFraction;
}

/** Cuts one pass over the byte stream into sequences of L + 1 ids with stride L. */
async function* windows(chunks: AsyncIterable<Uint8Array>, seqLen: number): AsyncGenerator<Int32Array> {
  let window = new Int32Array(seqLen + 1); // (L + 1) the sequence being filled
  let filled = 0;
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      window[filled++] = chunk[i]!;
      if (filled === seqLen + 1) {
        const full = window;
        window = new Int32Array(seqLen + 1);
        window[0] = full[seqLen]!; // the overlap: last target becomes the next first input
        filled = 1;
        yield full;
      }
    }
  }
}

/** Sequences from `source`, per the options (validated; DataOptionsError if they do not fit). */
export async function* streamSequences(
  source: ByteSource,
  options: SequenceOptions,
): AsyncGenerator<TextSequence> {
  const parsed = SequenceOptions.safeParse(options);
  if (!parsed.success) throw new DataOptionsError(`invalid sequence options: ${parsed.error.message}`);
  const { seqLen, epochs, split, shuffle } = parsed.data;
  const rng = shuffle === undefined ? null : new Rng(shuffle.seed, 'data/shuffle');
  const buffer: TextSequence[] = []; // at most shuffle.bufferSize sequences

  for (let epoch = 0; epoch < epochs; epoch++) {
    let index = 0;
    for await (const tokens of windows(source(), seqLen)) {
      const sequence = { index: index++, epoch, tokens };
      if (
        split !== undefined &&
        isHeldOut(sequence.index, split.heldOutFraction, split.seed) !== (split.take === 'heldout')
      ) {
        continue;
      }
      if (rng === null || shuffle === undefined) {
        yield sequence;
        continue;
      }
      if (buffer.length < shuffle.bufferSize) {
        buffer.push(sequence);
        continue;
      }
      const pick = rng.nextU32() % buffer.length;
      const out = buffer[pick]!;
      buffer[pick] = sequence;
      yield out;
    }
    if (index === 0 && epochs > 1) throw new SourceTooShortError(seqLen);
  }
  while (rng !== null && buffer.length > 0) {
    const pick = rng.nextU32() % buffer.length;
    const out = buffer[pick]!;
    buffer[pick] = buffer[buffer.length - 1]!;
    buffer.pop();
    yield out;
  }
}

/**
 * A Blob (a File the user picked in the browser, or a Node Blob, e.g. from fs.openAsBlob) as a byte
 * source, read by slices of `chunkBytes`. Slicing rather than blob.stream() because a stream's chunk size
 * is up to the implementation (Node streams an in-memory Blob as one chunk); a slice's is not.
 */
export function blobSource(blob: Blob, chunkBytes = 64 * 1024): ByteSource {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new DataOptionsError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  return async function* () {
    for (let start = 0; start < blob.size; start += chunkBytes) {
      yield new Uint8Array(await blob.slice(start, Math.min(start + chunkBytes, blob.size)).arrayBuffer());
    }
  };
}
