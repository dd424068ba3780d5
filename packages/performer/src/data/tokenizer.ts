/**
 * Tokenizers: text ↔ token ids, the same on every peer. The protocol's `byte` tokenizer is here; the
 * Hugging Face one (`hf`) is in hf-tokenizer.ts, and loadTokenizer (load.ts) builds either from a job's
 * spec. Browser-safe.
 */
import { InvalidTokenIdError } from './errors.js';

/**
 * Text of tokens as they are generated one by one: each push returns the text that token completes, so a
 * character split over several tokens (UTF-8 bytes, byte-level BPE pieces) is shown once, whole. The
 * pieces joined, plus end(), are the tokenizer's decode of all the tokens.
 */
export interface TokenTextStream {
  /** The text this token completes ('' while held back); an id outside the vocabulary shows as U+FFFD. */
  push(token: number): string;
  /** What is held back when the stream ends (an incomplete character becomes U+FFFD); resets. */
  end(): string;
}

export interface Tokenizer {
  readonly kind: 'byte' | 'hf';
  /** Ids lie in [0, vocabSize); must not exceed the model's vocabSize. */
  readonly vocabSize: number;
  /** The ids of `text`, with no special tokens added (training text and prompts are taken as they are). */
  encode(text: string): Int32Array;
  /** Throws InvalidTokenIdError for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string;
  textStream(): TokenTextStream;
}

/** The protocol's `byte` tokenizer: the UTF-8 bytes of the text are the ids 0..255. Nothing to ship. */
export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte';
  readonly vocabSize = 256;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder('utf-8');

  encode(text: string): Int32Array {
    return Int32Array.from(this.encoder.encode(text));
  }

  /** Invalid UTF-8 (a sequence cut mid-character, a model's babble) decodes to U+FFFD, never throws. */
  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!isByte(id)) throw new InvalidTokenIdError(i, id);
      bytes[i] = id;
    }
    return this.decoder.decode(bytes);
  }

  textStream(): TokenTextStream {
    return new ByteTextStream();
  }
}

function isByte(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= 255;
}

/**
 * A streaming TextDecoder holds a character's first bytes back until it is whole. Ids above 255 (a byte
 * job's model may have a larger vocabulary) show as U+FFFD.
 */
class ByteTextStream implements TokenTextStream {
  private readonly decoder = new TextDecoder('utf-8');

  push(token: number): string {
    if (!isByte(token)) return this.end() + '\uFFFD';
    return this.decoder.decode(Uint8Array.of(token), { stream: true });
  }

  end(): string {
    return this.decoder.decode();
  }
}
