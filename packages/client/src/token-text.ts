/**
 * The text of byte tokens (the protocol's `byte` tokenizer) as they arrive one by one. A character of
 * two to four UTF-8 bytes spans as many tokens: a streaming TextDecoder holds its first bytes back until
 * it is whole, so each character is shown once and correctly. Bytes that never make a valid character,
 * and ids above 255 (a byte vocabulary may be larger than 256), show as U+FFFD.
 */
export class ByteTextStream {
  private readonly decoder = new TextDecoder('utf-8');

  /** The text this token completes ('' while a character is still incomplete). */
  push(token: number): string {
    if (!Number.isInteger(token) || token < 0 || token > 255) return this.end() + '\uFFFD';
    return this.decoder.decode(Uint8Array.of(token), { stream: true });
  }

  /** What is held back when the stream ends (an incomplete character becomes U+FFFD); resets. */
  end(): string {
    return this.decoder.decode();
  }
}
