/**
 * The default fine-tuning corpus: the repository's own documentation and TypeScript sources — text the
 * project owns and ships, so nothing is downloaded. Split deterministically into a held-out part (for
 * evaluation) and `shards` training parts, one per local worker, written as plain text files: a worker
 * only ever sees its own shard, as a volunteer only ever sees their own data.
 */
import { readdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file's location (packages/default-job/src). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const SOURCE_DIRS = ['docs', 'protocol/src', 'packages', 'apps'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'assets', '.turbo', 'test', 'bench', 'img']);

async function walk(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) await walk(path, out);
    } else if (/\.(ts|md)$/.test(entry.name) && !entry.name.endsWith('.test.ts')) {
      out.push(path);
    }
  }
}

/** Corpus files, sorted by their path relative to the repository root. */
export async function defaultCorpusFiles(root = REPO_ROOT): Promise<string[]> {
  const files: string[] = [join(root, 'README.md')];
  for (const dir of SOURCE_DIRS) await walk(join(root, dir), files);
  return files.sort((a, b) => (relative(root, a) < relative(root, b) ? -1 : 1));
}

export interface CorpusSplit {
  /** One file per training shard. */
  shards: string[];
  heldOut: string;
  shardBytes: number[];
  heldOutBytes: number;
}

/**
 * Every 40th 2 KiB block is held out: about 21 KiB of the repository's text, ten 2048-token sequences,
 * which worker 0 scores whole after every round (a larger split would cost more than the round itself).
 */
export const DEFAULT_HELD_OUT_EVERY = 40;

export interface SplitOptions {
  outDir: string;
  shards: number;
  blockBytes?: number;
  heldOutEvery?: number;
}

/** The default corpus (the repository's docs and sources) split for `shards` workers. */
export async function writeDefaultCorpus(opts: SplitOptions & { root?: string }): Promise<CorpusSplit> {
  return writeCorpusSplit(await defaultCorpusFiles(opts.root), opts);
}

/**
 * Writes `shards` training files and one held-out file into `outDir`. Text is cut into blocks of
 * `blockBytes`; every `heldOutEvery`-th block is held out, the others are dealt round-robin to shards, so
 * shards are alike in kind but disjoint. Deterministic for the same input files.
 */
export async function writeCorpusSplit(files: readonly string[], opts: SplitOptions): Promise<CorpusSplit> {
  const blockBytes = opts.blockBytes ?? 2048;
  const heldOutEvery = opts.heldOutEvery ?? DEFAULT_HELD_OUT_EVERY;
  const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n\n');
  const shardParts: string[][] = Array.from({ length: opts.shards }, () => []);
  const heldOutParts: string[] = [];
  let dealt = 0;
  for (let block = 0, at = 0; at < text.length; block++, at += blockBytes) {
    const piece = text.slice(at, at + blockBytes);
    if (block % heldOutEvery === heldOutEvery - 1) heldOutParts.push(piece);
    else shardParts[dealt++ % opts.shards]!.push(piece);
  }
  const shards = shardParts.map((_, i) => join(opts.outDir, `shard-${i}.txt`));
  const heldOut = join(opts.outDir, 'held-out.txt');
  await Promise.all([
    ...shardParts.map((parts, i) => writeFileAtomic(shards[i]!, parts.join(''))),
    writeFileAtomic(heldOut, heldOutParts.join('')),
  ]);
  return {
    shards,
    heldOut,
    shardBytes: shardParts.map((p) => Buffer.byteLength(p.join(''))),
    heldOutBytes: Buffer.byteLength(heldOutParts.join('')),
  };
}
