/**
 * A small byte-level BPE tokenizer in the Hugging Face tokenizer.json layout (GPT-2's: ByteLevel
 * pre-tokenizer and decoder, 256 byte symbols, learned merges, `<|endoftext|>`), built here from a short
 * text so no test downloads one. The merges are learned by the textbook routine: count adjacent symbol
 * pairs within pre-tokens, merge the most frequent, repeat. Other tests (HF model folders) import it.
 */
import { sha256Hex, type TokenizerSpec } from '@slimswarm/protocol';

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for code points from 256 up. */
function byteSymbols(): string[] {
  const symbols: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    symbols.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return symbols;
}

/** GPT-2's pre-tokenizer pattern (what the ByteLevel pre-tokenizer applies with use_regex). */
const PRE_TOKEN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const TINY_BPE_TEXT =
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on and on.\n' +
  'Volunteers train the model together, and the model learns the text they hold.\n' +
  'Déjà vu: naïve café owners serve crème brûlée — 群 蜂 🐝🐝 — then the others return.\n';

export interface TinyBpe {
  /** tokenizer.json and tokenizer_config.json as parsed objects. */
  tokenizerJson: Record<string, unknown>;
  configJson: Record<string, unknown>;
  /** Their bytes, as a coordinator serves them. */
  files: { tokenizer: Uint8Array; config: Uint8Array };
  /** The job's spec naming those files. */
  spec: Extract<TokenizerSpec, { kind: 'hf' }>;
  /** Ids: the bytes 0..255, the merges from 256, then `<|endoftext|>` (the last id). */
  vocabSize: number;
  endOfText: number;
}

/** `merges` merges learned from `text` (deterministic: ties go to the pair that sorts first). */
export function tinyBpe(opts: { text?: string; merges?: number } = {}): TinyBpe {
  const text = opts.text ?? TINY_BPE_TEXT;
  const symbols = byteSymbols();
  const utf8 = new TextEncoder();
  const words = [...text.matchAll(PRE_TOKEN)].map((m) => [...utf8.encode(m[0])].map((b) => symbols[b]!));
  const vocab = new Map(symbols.map((s, id) => [s, id]));
  const merges: [string, string][] = [];
  for (let n = 0; n < (opts.merges ?? 48); n++) {
    const counts = new Map<string, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.length; i++) {
        const key = JSON.stringify([w[i], w[i + 1]]);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    const best = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (best === undefined) break;
    const [left, right] = JSON.parse(best[0]) as [string, string];
    merges.push([left, right]);
    vocab.set(left + right, vocab.size);
    for (const w of words)
      for (let i = 0; i + 1 < w.length; i++)
        if (w[i] === left && w[i + 1] === right) w.splice(i, 2, left + right);
  }
  const endOfText = vocab.size;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: endOfText,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const configJson = {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    model_max_length: 1024,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
  };
  const files = {
    tokenizer: utf8.encode(JSON.stringify(tokenizerJson)),
    config: utf8.encode(JSON.stringify(configJson)),
  };
  const published = (bytes: Uint8Array) => ({ sha256: sha256Hex(bytes), bytes: bytes.byteLength });
  return {
    tokenizerJson,
    configJson,
    files,
    spec: { kind: 'hf', tokenizer: published(files.tokenizer), config: published(files.config) },
    vocabSize: endOfText + 1,
    endOfText,
  };
}
