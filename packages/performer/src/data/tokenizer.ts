/**
 * The protocol's `byte` tokenizer: the UTF-8 bytes of the text are the token ids 0..255. Nothing to train
 * or ship, and every peer tokenizes identically.
 */
import { InvalidTokenIdError } from './errors.js';

export class ByteTokenizer {
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
      if (!Number.isInteger(id) || id < 0 || id > 255) throw new InvalidTokenIdError(i, id);
      bytes[i] = id;
    }
    return this.decoder.decode(bytes);
  }
}
