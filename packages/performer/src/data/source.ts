/**
 * Training sequences streamed from text of any size, with memory flat in the size of the text: bytes are
 * pulled from the source one chunk at a time, only when the next sequence needs them, and nothing but the
 * sequence being filled (plus the optional shuffle buffer) is kept. Browser-safe; Node files are in node.ts.
 *
 * With the byte tokenizer the token ids are the bytes themselves, so no decoding happens here; any other
 * tokenizer encodes the text a piece at a time (textPieces). Sequence i holds tokens [i·L, i·L + L]
 * (L + 1 ids: L inputs and their L next-token targets), so consecutive sequences overlap by one token and
 * every token after the first is a target exactly once.
 */
import { z } from 'zod';
import { Seed } from '@slimswarm/protocol';
import { Rng } from '../model/random.js';
import { DataOptionsError, SourceTooShortError } from './errors.js';
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';

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

/** Text longer than this with no line break in it is cut anyway, to bound memory. */
export const MAX_PIECE_CHARS = 1 << 20;

/**
 * Where `text` may be cut so each side tokenizes as the whole would: after the last line break that a
 * non-space character follows. Byte-level BPE pre-tokenizers (GPT-2's, Llama 3's, Qwen2's patterns) never
 * join such a break to what follows, and merges never cross pre-tokens. 0: no such place.
 */
function lastCut(text: string): number {
  for (
    let i = text.lastIndexOf('\n', text.length - 2);
    i >= 0 && i + 1 < text.length;
    i = text.lastIndexOf('\n', i - 1)
  ) {
    if (/\S/u.test(text[i + 1]!)) return i + 1;
    if (i === 0) break;
  }
  return 0;
}

/**
 * The ids of the byte stream's text, a piece at a time, so memory stays flat in its size and the ids
 * depend on the text only, not on how it was chunked. A byte tokenizer's ids are the bytes.
 */
async function* tokenChunks(
  chunks: AsyncIterable<Uint8Array>,
  tokenizer: Tokenizer,
): AsyncGenerator<ArrayLike<number>> {
  if (tokenizer.kind === 'byte') return yield* chunks;
  const utf8 = new TextDecoder('utf-8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += utf8.decode(chunk, { stream: true });
    let cut = lastCut(pending);
    if (cut === 0 && pending.length > MAX_PIECE_CHARS) {
      cut = MAX_PIECE_CHARS;
      if (/[\uD800-\uDBFF]/.test(pending[cut - 1]!)) cut--; // keep a surrogate pair whole
    }
    if (cut === 0) continue;
    yield tokenizer.encode(pending.slice(0, cut));
    pending = pending.slice(cut);
  }
  pending += utf8.decode();
  if (pending.length > 0) yield tokenizer.encode(pending);
}

/** Cuts one pass over the id stream into sequences of L + 1 ids with stride L. */
async function* windows(
  chunks: AsyncIterable<ArrayLike<number>>,
  seqLen: number,
): AsyncGenerator<Int32Array> {
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

/**
 * Sequences from `source` encoded by `tokenizer` (the job's; default the byte tokenizer), per the options
 * (validated; DataOptionsError if they do not fit).
 */
export async function* streamSequences(
  source: ByteSource,
  options: SequenceOptions,
  tokenizer: Tokenizer = new ByteTokenizer(),
): AsyncGenerator<TextSequence> {
  const parsed = SequenceOptions.safeParse(options);
  if (!parsed.success) throw new DataOptionsError(`invalid sequence options: ${parsed.error.message}`);
  const { seqLen, epochs, split, shuffle } = parsed.data;
  const rng = shuffle === undefined ? null : new Rng(shuffle.seed, 'data/shuffle');
  const buffer: TextSequence[] = []; // at most shuffle.bufferSize sequences

  for (let epoch = 0; epoch < epochs; epoch++) {
    let index = 0;
    for await (const tokens of windows(tokenChunks(source(), tokenizer), seqLen)) {
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
