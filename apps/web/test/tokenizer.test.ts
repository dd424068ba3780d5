/**
 * A tab and a Node worker tokenize alike: the same texts, encoded by the job's Hugging Face tokenizer in
 * Node and in a real Chromium page (the performer's tokenizer code bundled by vite as the tab's is,
 * served over loopback), give the same ids. The page checks the files' hashes itself, as a tab does.
 */
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '@slimswarm/performer';
import { TINY_BPE_TEXT, tinyBpe } from '@slimswarm/performer/test/tiny-bpe';
import type { Browser, Page } from 'playwright-core';
import { build, defaultClientConditions } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, scratchDir } from './harness.js';

const PAGE = fileURLToPath(new URL('./tokenizer-page/', import.meta.url));
const OWN_SOURCES = /\/(protocol|packages\/performer)\/src\//;

/** Hand-picked texts, then seeded random mixes of scripts, emoji, whitespace runs and the special token. */
function texts(): string[] {
  const pool = [
    ...'abcdefghijklmnopqrstuvwxyz THE fox'.split(''),
    ...['é', 'ß', 'ñ', 'ø', 'Ж', 'λ', 'ع', '群', '蜂', '語', '🐝', '👩‍👩‍👧', '🇺🇳', '\u0301'],
    ...[' ', '  ', '\n', '\n\n', '\t', '\r\n', '.', ',', "'s", '123', '—'],
    '<|endoftext|>',
  ];
  let seed = 11;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const random = Array.from({ length: 40 }, () =>
    Array.from({ length: 1 + (next() % 60) }, () => pool[next() % pool.length]).join(''),
  );
  return [
    TINY_BPE_TEXT,
    'Déjà vu: naïve café owners serve crème brûlée',
    'emoji 🐝🐝 and flags 🇺🇳, families 👩‍👩‍👧',
    '   runs   of\t\tspaces\n\n\nand lines  ',
    'one<|endoftext|>two',
    ...random,
  ];
}

let dir = '';
let server: Server | null = null;
let browser: Browser | null = null;
let page: Page | null = null;

beforeAll(async () => {
  dir = await scratchDir();
  await build({
    configFile: false,
    root: PAGE,
    base: './',
    logLevel: 'error',
    // Our packages from their TypeScript sources, as the tab's own build takes them (no dist/ needed).
    resolve: { conditions: ['@slimswarm/source', ...defaultClientConditions] },
    build: {
      outDir: dir,
      target: 'es2022',
      // As the tab's bundle: our modules only define things, so what the page does not use is left out.
      rolldownOptions: { treeshake: { moduleSideEffects: (id: string) => !OWN_SOURCES.test(id) } },
    },
  });
  server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    readFile(join(dir, path)).then(
      (body) => {
        res.writeHead(200, { 'Content-Type': path.endsWith('.js') ? 'text/javascript' : 'text/html' });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => typeof window.encodeTexts === 'function');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const asArrays = (files: Record<string, Uint8Array>) =>
  Object.fromEntries(Object.entries(files).map(([role, bytes]) => [role, [...bytes]]));

describe('BPE ids in Node and in Chromium', () => {
  const bpe = tinyBpe();
  const vocabSize = bpe.vocabSize;

  it('are identical for the same texts', async () => {
    const all = texts();
    const tokenizer = loadTokenizer(bpe.spec, bpe.files, vocabSize);
    const inNode = all.map((text) => [...tokenizer.encode(text)]);
    const inChromium = await page!.evaluate(([spec, files, v, t]) => window.encodeTexts(spec, files, v, t), [
      bpe.spec,
      asArrays(bpe.files),
      vocabSize,
      all,
    ] as const);
    expect(inChromium).toEqual(inNode);
    // Not only byte ids: merges and the special token were applied on both sides.
    const ids = inNode.flat();
    expect(ids.some((id) => id >= 256 && id !== bpe.endOfText)).toBe(true);
    expect(ids).toContain(bpe.endOfText);
  });

  it('the page refuses a tokenizer.json that is not the one the job names', async () => {
    const tampered = bpe.files.tokenizer.slice();
    tampered[tampered.length - 3]! ^= 1;
    const name = await page!.evaluate(
      ([spec, files, v]) => {
        try {
          window.encodeTexts(spec, files, v, ['x']);
          return 'accepted';
        } catch (e) {
          return (e as Error).name;
        }
      },
      [bpe.spec, asArrays({ ...bpe.files, tokenizer: tampered }), vocabSize] as const,
    );
    expect(name).toBe('TokenizerFileMismatchError');
  });
});
