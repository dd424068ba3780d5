/**
 * Resolves `--data` into readable files: a file, a directory (every file below it) or a glob. The text
 * itself is read later, piece by piece, by the performer's streaming source; this only finds it.
 */
import { stat, readdir, access, constants } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { DataNotFoundError } from './errors.js';

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesBelow(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

export async function resolveDataFiles(specs: readonly string[], cwd = process.cwd()): Promise<string[]> {
  const files = new Set<string>();
  for (const spec of specs) {
    let found: string[];
    if (isDynamicPattern(spec)) {
      found = await glob(spec, { cwd, absolute: true, onlyFiles: true });
    } else {
      const path = resolve(cwd, spec);
      const info = await stat(path).catch(() => null);
      if (!info) throw new DataNotFoundError(`--data ${spec}: no such file or directory`);
      found = info.isDirectory() ? await filesBelow(path) : [path];
    }
    if (found.length === 0) throw new DataNotFoundError(`--data ${spec}: matches no files`);
    for (const file of found) {
      await access(file, constants.R_OK).catch(() => {
        throw new DataNotFoundError(`--data ${spec}: ${file} is not readable`);
      });
      files.add(file);
    }
  }
  const sorted = [...files].sort();
  const sizes = await Promise.all(sorted.map(async (f) => (await stat(f)).size));
  if (sizes.every((s) => s === 0)) throw new DataNotFoundError('--data: every file is empty');
  return sorted.filter((_, i) => sizes[i]! > 0);
}
