/**
 * A Hugging Face tokenizer (tokenizer.json, optionally with its tokenizer_config.json) through
 * @huggingface/tokenizers, the library transformers.js uses: byte-level BPE (GPT-2, Llama 3, Qwen2,
 * SmolLM2) and the other kinds those families ship. Pure JS, so a tab and a Node worker run the same code
 * and get the same ids. Browser-safe.
 */
import { Tokenizer as Library } from '@huggingface/tokenizers';
import { z } from 'zod';
import { InvalidTokenIdError, TokenizerFormatError, UnencodableTextError } from './errors.js';
import type { TokenTextStream, Tokenizer } from './tokenizer.js';

/** The shape the library reads without checking: anything else it would crash on or misread. */
const TokenizerJson = z
  .object({
    model: z.object({ type: z.string().optional() }).loose(),
    added_tokens: z
      .array(z.object({ id: z.number().int().min(0), content: z.string().min(1) }).loose())
      .default([]),
    normalizer: z.unknown().default(null),
    pre_tokenizer: z.unknown().default(null),
    post_processor: z.unknown().default(null),
    decoder: z.unknown().default(null),
  })
  .loose();

const TokenizerConfigJson = z.object({}).loose();

/**
 * The part of the library's Tokenizer used here, typed by hand from its types/core/Tokenizer.d.ts: its
 * .d.ts files import one another without extensions, which NodeNext resolution cannot follow, so tsc
 * sees `any`. An id is undefined where a piece has no token and the model no unknown token.
 */
interface LibraryTokenizer {
  encode(
    text: string,
    options: { add_special_tokens: boolean },
  ): { ids: (number | undefined)[]; tokens: string[] };
  decode(ids: number[], options: { clean_up_tokenization_spaces: boolean }): string;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}

/** tokenizer.json and, where the tokenizer has one, tokenizer_config.json: the bytes as published. */
export interface HfTokenizerFiles {
  tokenizer: Uint8Array;
  config?: Uint8Array;
}

/** The names the files have in a Hugging Face model folder and in an export. */
export const HF_TOKENIZER_FILE_NAMES: Readonly<Record<keyof HfTokenizerFiles, string>> = {
  tokenizer: 'tokenizer.json',
  config: 'tokenizer_config.json',
};

function parseJson(role: keyof HfTokenizerFiles, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (e) {
    throw new TokenizerFormatError(
      `${HF_TOKENIZER_FILE_NAMES[role]} is not UTF-8 JSON: ${(e as Error).message}`,
    );
  }
}

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  private readonly library: LibraryTokenizer;

  /**
   * From the files' bytes (kept, so an export can write them as they are); TokenizerFormatError when they
   * are not JSON or not a tokenizer the library supports. Checking them against a job's hashes is
   * loadTokenizer's part.
   */
  constructor(readonly files: HfTokenizerFiles) {
    const tokenizer = TokenizerJson.safeParse(parseJson('tokenizer', files.tokenizer));
    if (!tokenizer.success)
      throw new TokenizerFormatError(`not a tokenizer.json: ${z.prettifyError(tokenizer.error)}`);
    const config = TokenizerConfigJson.safeParse(
      files.config === undefined ? {} : parseJson('config', files.config),
    );
    if (!config.success) throw new TokenizerFormatError('tokenizer_config.json is not a JSON object');
    try {
      this.library = new Library(tokenizer.data, config.data) as LibraryTokenizer;
    } catch (e) {
      // The library names the component it lacks ("Unknown PreTokenizer type: …") or what is malformed.
      throw new TokenizerFormatError(`unsupported tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    let top = -1;
    for (const id of this.library.get_vocab(true).values()) top = Math.max(top, id);
    if (top < 0) throw new TokenizerFormatError('the tokenizer has an empty vocabulary');
    this.vocabSize = top + 1;
  }

  /** Whether `id` names a token (a vocabulary may have holes). */
  has(id: number): boolean {
    return (
      Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.library.id_to_token(id) !== undefined
    );
  }

  encode(text: string): Int32Array {
    if (text.length === 0) return new Int32Array(0);
    const { ids, tokens } = this.library.encode(text, { add_special_tokens: false });
    const out = new Int32Array(ids.length);
    ids.forEach((id, i) => {
      if (id === undefined) throw new UnencodableTextError(`no token for ${JSON.stringify(tokens[i])}`);
      out[i] = id;
    });
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const list = Array.from(ids);
    list.forEach((id, i) => {
      if (!this.has(id)) throw new InvalidTokenIdError(i, id);
    });
    return this.decodeKnown(list);
  }

  /**
   * Ids already checked. No clean-up of spaces before punctuation: it would make decode lose what encode
   * kept, and a prefix's text would stop being a prefix of the whole's, which streaming relies on.
   */
  private decodeKnown(ids: number[]): string {
    if (ids.length === 0) return '';
    return this.library.decode(ids, { clean_up_tokenization_spaces: false });
  }

  textStream(): TokenTextStream {
    return new HfTextStream(this, (ids) => this.decodeKnown(ids));
  }
}

/**
 * Incremental detokenization as Hugging Face's text-generation-inference does it: decode a window of the
 * tokens since the last text shown, and show only what the new token adds to it — when it adds anything
 * and does not end in U+FFFD (a character whose bytes are still arriving). Decoding a window rather than
 * each token alone gives decoders their context (a leading-space strip, a byte fallback run), and the
 * window restarts from the last shown token, so the work per token stays small.
 */
class HfTextStream implements TokenTextStream {
  /** Tokens from the start of the window; [0, shown) are those whose text is already out. */
  private window: number[] = [];
  private shown = 0;

  constructor(
    private readonly tokenizer: HfTokenizer,
    private readonly decode: (ids: number[]) => string,
  ) {}

  push(token: number): string {
    if (!this.tokenizer.has(token)) return this.end() + '\uFFFD';
    this.window.push(token);
    const before = this.decode(this.window.slice(0, this.shown));
    const text = this.decode(this.window);
    if (text.length <= before.length || text.endsWith('\uFFFD')) return '';
    this.window = this.window.slice(this.shown);
    this.shown = this.window.length;
    return text.slice(before.length);
  }

  end(): string {
    const before = this.decode(this.window.slice(0, this.shown));
    const text = this.decode(this.window);
    this.window = [];
    this.shown = 0;
    return text.slice(before.length);
  }
}
