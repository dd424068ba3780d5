import { sha256Hex } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import {
  ByteTokenizer,
  HfTokenizer,
  loadTokenizer,
  streamSequences,
  type ByteSource,
  type Tokenizer,
} from '../src/data/index.js';
import { TINY_BPE_TEXT, tinyBpe } from './tiny-bpe.js';

const bpe = tinyBpe();
const hf = loadTokenizer(bpe.spec, bpe.files, bpe.vocabSize);

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Déjà vu: naïve café, crème brûlée, 群 蜂, Ελληνικά, עברית',
  'emoji 🐝🐝 👩‍👩‍👧 🇺🇳 and a lone 🐝',
  '  leading, trailing  \n\n\ttabs\t\t and   runs of   spaces   ',
  'a document<|endoftext|>the next one',
  TINY_BPE_TEXT,
];

/** The text a stream shows for `ids`, piece by piece. */
function streamed(tok: Tokenizer, ids: ArrayLike<number>): string[] {
  const stream = tok.textStream();
  return [...Array.from(ids, (id) => stream.push(id)), stream.end()];
}

describe('HfTokenizer (tiny byte-level BPE)', () => {
  it('round-trips ASCII, multi-byte UTF-8, emoji and whitespace runs, using its merges', () => {
    for (const text of TEXTS) {
      const ids = hf.encode(text);
      expect(hf.decode(ids)).toBe(text);
      expect(ids.every((id) => id >= 0 && id < hf.vocabSize)).toBe(true);
    }
    // Merges shorten the text it learned from, and the special token is one id.
    expect(hf.encode(TINY_BPE_TEXT).length).toBeLessThan(
      new TextEncoder().encode(TINY_BPE_TEXT).length * 0.8,
    );
    expect([...hf.encode('<|endoftext|>')]).toEqual([bpe.endOfText]);
    expect(hf.vocabSize).toBe(bpe.vocabSize);
  });

  it('streams text equal to the full decode, never showing half a character', () => {
    for (const text of TEXTS) {
      const ids = hf.encode(text);
      const pieces = streamed(hf, ids);
      expect(pieces.join('')).toBe(text);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    }
    // Byte tokens of one 4-byte emoji: nothing until the last one, then the whole character.
    expect(streamed(hf, [240, 159, 144, 157])).toEqual(['', '', '', '🐝', '']);
  });

  it('streams arbitrary id sequences as their full decode, ids outside the vocabulary as U+FFFD', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const ids = Array.from({ length: 1 + (next() % 40) }, () => next() % hf.vocabSize);
      expect(streamed(hf, ids).join('')).toBe(hf.decode(ids));
    }
    expect(streamed(hf, [65, hf.vocabSize, 66]).join('')).toBe('A\uFFFDB');
    expect(() => hf.decode([65, hf.vocabSize])).toThrow(
      expect.objectContaining({ name: 'InvalidTokenIdError', index: 1 }),
    );
  });

  it('sequences a text with the same ids as encoding it whole, whatever the chunk borders', async () => {
    const text = TEXTS.join('\n').repeat(3);
    const bytes = new TextEncoder().encode(text);
    const whole = [...hf.encode(text)];
    const L = 16;
    for (const size of [1, 5, 64, 1 << 16]) {
      const source: ByteSource = async function* () {
        for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
      };
      const ids: number[] = [];
      for await (const s of streamSequences(source, { seqLen: L }, hf))
        ids.push(...(ids.length === 0 ? s.tokens : s.tokens.subarray(1)));
      expect(ids).toEqual(whole.slice(0, ids.length));
      expect(whole.length - ids.length).toBeLessThanOrEqual(L);
    }
  });
});

describe('ByteTokenizer text stream', () => {
  const tok = new ByteTokenizer();
  it('shows each multi-byte character once, when its last byte arrives', () => {
    // é is 2 bytes, 群 3, 🐝 4.
    expect(streamed(tok, tok.encode('aé群🐝'))).toEqual(['a', '', 'é', '', '', '群', '', '', '', '🐝', '']);
  });
  it('shows invalid bytes, a cut character and ids beyond a byte as U+FFFD', () => {
    expect(streamed(tok, [0xff, 0x41]).join('')).toBe('\uFFFDA');
    expect(streamed(tok, [0xe7, 0xbe]).join('')).toBe('\uFFFD');
    expect(streamed(tok, [0x41, 300, 0x42]).join('')).toBe('A\uFFFDB');
  });
});

describe('loadTokenizer', () => {
  const named = (name: string) => expect.objectContaining({ name });

  it('gives the byte tokenizer for a byte spec, if the model has 256 ids', () => {
    expect(loadTokenizer({ kind: 'byte' }, {}, 256).kind).toBe('byte');
    expect(() => loadTokenizer({ kind: 'byte' }, {}, 255)).toThrow(named('TokenizerVocabularyError'));
  });

  it('refuses a file whose size or hash is not the spec’s, or one that is missing', () => {
    const tampered = bpe.files.tokenizer.slice();
    tampered[tampered.length - 3]! ^= 1; // same size, other bytes
    expect(() => loadTokenizer(bpe.spec, { ...bpe.files, tokenizer: tampered }, 512)).toThrow(
      named('TokenizerFileMismatchError'),
    );
    const longer = new Uint8Array([...bpe.files.config, 0x20]);
    expect(() => loadTokenizer(bpe.spec, { ...bpe.files, config: longer }, 512)).toThrow(
      expect.objectContaining({ name: 'TokenizerFileMismatchError', file: 'config' }),
    );
    expect(() => loadTokenizer(bpe.spec, { tokenizer: bpe.files.tokenizer }, 512)).toThrow(
      named('TokenizerFileMissingError'),
    );
  });

  it('refuses a tokenizer with more ids than the model has rows', () => {
    expect(() => loadTokenizer(bpe.spec, bpe.files, bpe.vocabSize - 1)).toThrow(
      expect.objectContaining({ name: 'TokenizerVocabularyError', tokenizerVocabSize: bpe.vocabSize }),
    );
  });

  it('refuses files that are not JSON, not a tokenizer, or of a kind the library lacks', () => {
    const load = (json: unknown) => () =>
      new HfTokenizer({ tokenizer: new TextEncoder().encode(JSON.stringify(json)) });
    expect(load({ nope: 1 })).toThrow(named('TokenizerFormatError'));
    expect(load({ ...bpe.tokenizerJson, pre_tokenizer: { type: 'NoSuchSplitter' } })).toThrow(
      named('TokenizerFormatError'),
    );
    expect(load({ ...bpe.tokenizerJson, model: { type: 'NoSuchModel' } })).toThrow(
      named('TokenizerFormatError'),
    );
    const notJson = new TextEncoder().encode('{"model":');
    const spec = { kind: 'hf' as const, tokenizer: { sha256: sha256Hex(notJson), bytes: notJson.length } };
    expect(() => loadTokenizer(spec, { tokenizer: notJson }, 512)).toThrow(named('TokenizerFormatError'));
  });
});
