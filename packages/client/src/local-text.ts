/**
 * A volunteer's local text as the endless training sequences its loop consumes — written once for the
 * Node worker (files) and the tab (the picked files in IndexedDB), so both scrub and tokenise alike.
 */
import { streamSequences, type ByteSource, type Tokenizer } from '@slimswarm/performer';
import { scrubbedSource, type ScrubReport } from './scrub-source.js';

/** Sequences buffered for shuffling: bounded memory, varied order. */
export const SHUFFLE_BUFFER = 64;

export interface LocalTextOptions {
  /** L: each sequence holds L + 1 ids. */
  seqLen: number;
  /** Seeds the shuffle (the worker derives it from its peer id, the tab draws it). */
  seed: number;
  /** The job's verified tokenizer. */
  tokenizer: Tokenizer;
  /**
   * Scrub PII before tokenising (scrub-source.ts) and report the counts here. The report is for the
   * volunteer's own display: nothing passes it to the swarm. Absent: the text is tokenised as it is.
   */
  scrub?: (report: ScrubReport) => void;
}

/** Endless sequences of L + 1 ids of `source`'s text (scrubbed when asked), shuffled within a window. */
export function localTrainingSequences(
  source: ByteSource,
  opts: LocalTextOptions,
): AsyncIterator<Int32Array> {
  const text = opts.scrub ? scrubbedSource(source, opts.scrub) : source;
  const stream = streamSequences(
    text,
    { seqLen: opts.seqLen, epochs: Infinity, shuffle: { bufferSize: SHUFFLE_BUFFER, seed: opts.seed } },
    opts.tokenizer,
  );
  return (async function* () {
    for await (const s of stream) yield s.tokens;
  })();
}
