/**
 * The job's tokenizer from the folder's `tokenizer.json` (and `tokenizer_config.json` when present): the
 * manifest carries their SHA-256 and sizes, peers fetch the bytes and check them. Only what could break
 * the job is checked here (it parses as a tokenizer, no id beyond the embedding); encoding is the
 * tokenizer library's business.
 */
import { PROTOCOL_LIMITS, sha256Hex, type TokenizerSpec } from '@slimswarm/protocol';
import { z } from 'zod';
import { InvalidTokenizerError } from './errors.js';

export interface TokenizerFiles {
  spec: TokenizerSpec & { kind: 'hf' };
  /** The bytes the spec names, to be served to peers as they are. */
  tokenizer: Uint8Array;
  config?: Uint8Array;
}

const Id = z.number().int().min(0);
const TokenizerJson = z
  .object({
    model: z
      .object({
        type: z.string().optional(),
        /** BPE and WordPiece: token → id; Unigram: [token, score] pairs whose index is the id. */
        vocab: z.union([z.record(z.string(), Id), z.array(z.tuple([z.string(), z.number()]))]),
      })
      .loose(),
    added_tokens: z.array(z.object({ id: Id }).loose()).default([]),
  })
  .loose();
const TokenizerConfigJson = z.record(z.string(), z.unknown());

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    throw new InvalidTokenizerError(`${file} is not UTF-8 JSON`);
  }
}

function published(bytes: Uint8Array, file: string): { sha256: string; bytes: number } {
  if (bytes.length === 0 || bytes.length > PROTOCOL_LIMITS.maxTokenizerBytes) {
    throw new InvalidTokenizerError(
      `${file} is ${bytes.length} bytes (1 to ${PROTOCOL_LIMITS.maxTokenizerBytes} allowed)`,
    );
  }
  return { sha256: sha256Hex(bytes), bytes: bytes.length };
}

export function tokenizerFiles(
  tokenizer: Uint8Array,
  vocabSize: number,
  config?: Uint8Array,
): TokenizerFiles {
  const parsed = TokenizerJson.safeParse(parseJson(tokenizer, 'tokenizer.json'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidTokenizerError(`tokenizer.json ${issue.path.join('.')}: ${issue.message}`);
  }
  const { vocab } = parsed.data.model;
  const ids = [
    ...(Array.isArray(vocab) ? [vocab.length - 1] : Object.values(vocab)),
    ...parsed.data.added_tokens.map((t) => t.id),
  ];
  const maxId = ids.reduce((a, b) => Math.max(a, b), -1);
  if (maxId >= vocabSize) {
    throw new InvalidTokenizerError(`tokenizer.json has id ${maxId}, the model's vocab_size is ${vocabSize}`);
  }
  if (
    config !== undefined &&
    !TokenizerConfigJson.safeParse(parseJson(config, 'tokenizer_config.json')).success
  ) {
    throw new InvalidTokenizerError('tokenizer_config.json must be a JSON object');
  }
  return {
    spec: {
      kind: 'hf',
      tokenizer: published(tokenizer, 'tokenizer.json'),
      ...(config === undefined ? {} : { config: published(config, 'tokenizer_config.json') }),
    },
    tokenizer,
    ...(config === undefined ? {} : { config }),
  };
}
