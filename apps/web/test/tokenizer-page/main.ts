/**
 * The page of tokenizer.test.ts: the performer's tokenizer code as the tab bundles it, loading a job's
 * tokenizer from its spec and files (hashes checked in the page) and encoding texts.
 */
import { loadTokenizer } from '@slimswarm/performer';
import type { TokenizerSpec } from '@slimswarm/protocol';

declare global {
  interface Window {
    encodeTexts: (
      spec: TokenizerSpec,
      files: Record<string, number[]>,
      vocabSize: number,
      texts: string[],
    ) => number[][];
  }
}

window.encodeTexts = (spec, files, vocabSize, texts) => {
  const bytes = Object.fromEntries(Object.entries(files).map(([role, b]) => [role, Uint8Array.from(b)]));
  const tokenizer = loadTokenizer(spec, bytes, vocabSize);
  return texts.map((text) => [...tokenizer.encode(text)]);
};
