/**
 * Held-out figures in bits per byte of text, the unit that compares a model with a compressor whatever
 * either one calls a symbol: a model's loss is nats per predicted token, xz's output is bytes.
 */
import type { TokenizerSpec } from '@slimswarm/protocol';

/**
 * A mean loss of `natsPerToken` over held-out text, in bits per byte of that text: nats → bits (÷ ln 2),
 * then tokens → bytes (× tokens per byte). With the byte tokenizer every predicted token is one byte of
 * UTF-8 text, so the factor is 1; a tokenizer whose tokens span several bytes must bring its own ratio
 * here, counted on the scored text (the switch makes a new kind a type error, not a silently wrong figure).
 */
export function bitsPerByte(natsPerToken: number, tokenizer: TokenizerSpec, tokensPerByte?: number): number {
  switch (tokenizer.kind) {
    case 'byte':
      return natsPerToken / Math.LN2;
    case 'hf':
      // Tokens per byte depend on the text: the caller counts them on the very bytes it scored.
      if (tokensPerByte === undefined || !(tokensPerByte > 0)) {
        throw new RangeError(
          'bits per byte with a BPE tokenizer needs the tokens per byte of the scored text',
        );
      }
      return (natsPerToken / Math.LN2) * tokensPerByte;
  }
}

/** `compressedBytes` of output for `textBytes` of input, in bits per input byte. */
export function compressedBitsPerByte(compressedBytes: number, textBytes: number): number {
  if (!(textBytes > 0)) throw new RangeError(`bits per byte of ${textBytes} bytes of text`);
  return (8 * compressedBytes) / textBytes;
}
