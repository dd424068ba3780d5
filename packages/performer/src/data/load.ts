/** A job's tokenizer from its signed spec and the files the coordinator served. Browser-safe. */
import { sha256Hex, type TokenizerSpec } from '@slimswarm/protocol';
import { TokenizerFileMismatchError, TokenizerFileMissingError, TokenizerVocabularyError } from './errors.js';
import { HfTokenizer, type HfTokenizerFiles } from './hf-tokenizer.js';
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';

/** The bytes of the files an `hf` spec names (a `byte` spec names none). */
export type TokenizerFiles = Partial<HfTokenizerFiles>;

type FileRole = keyof TokenizerFiles;

/**
 * Checks every file against the spec's size and SHA-256 before reading a byte of it, builds the tokenizer
 * and checks that its ids fit the model's vocabulary. Throws TokenizerFileMissingError,
 * TokenizerFileMismatchError, TokenizerFormatError or TokenizerVocabularyError.
 */
export function loadTokenizer(spec: TokenizerSpec, files: TokenizerFiles, modelVocabSize: number): Tokenizer {
  return fitModel(spec.kind === 'byte' ? new ByteTokenizer() : loadHf(spec, files), modelVocabSize);
}

/** `tokenizer`, if every id it has is a row of the model's embedding; TokenizerVocabularyError if not. */
export function fitModel<T extends Tokenizer>(tokenizer: T, modelVocabSize: number): T {
  if (tokenizer.vocabSize > modelVocabSize)
    throw new TokenizerVocabularyError(tokenizer.vocabSize, modelVocabSize);
  return tokenizer;
}

function loadHf(spec: Extract<TokenizerSpec, { kind: 'hf' }>, files: TokenizerFiles): HfTokenizer {
  const tokenizer = verified(spec, files, 'tokenizer');
  // A config file the spec does not name is not the job's: it is left out, not trusted.
  if (spec.config === undefined) return new HfTokenizer({ tokenizer });
  return new HfTokenizer({ tokenizer, config: verified(spec, files, 'config') });
}

function verified(
  spec: Extract<TokenizerSpec, { kind: 'hf' }>,
  files: TokenizerFiles,
  role: FileRole,
): Uint8Array {
  const expected = spec[role]!;
  const bytes = files[role];
  if (bytes === undefined) throw new TokenizerFileMissingError(role);
  const actual = { bytes: bytes.byteLength, sha256: sha256Hex(bytes) };
  if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)
    throw new TokenizerFileMismatchError(role, expected, actual);
  return bytes;
}
