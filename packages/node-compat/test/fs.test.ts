import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDirAtomic } from '../src/fs.js';

let dir = '';
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('writeDirAtomic', () => {
  it('writes a new folder, replaces an old one whole, and leaves no temporary folder behind', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-dir-'));
    const out = join(dir, 'export');
    await writeDirAtomic(out, (temp) => writeFile(join(temp, 'a.txt'), 'one'));
    await writeDirAtomic(out, (temp) => writeFile(join(temp, 'b.txt'), 'two'));
    expect(await readdir(out)).toEqual(['b.txt']);
    expect(await readFile(join(out, 'b.txt'), 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['export']);
  });

  it('keeps the old folder when writing the new one fails', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-dir-'));
    const out = join(dir, 'export');
    await writeDirAtomic(out, (temp) => writeFile(join(temp, 'a.txt'), 'one'));
    const failing = writeDirAtomic(out, async (temp) => {
      await writeFile(join(temp, 'half.txt'), 'half');
      throw new Error('disk full');
    });
    await expect(failing).rejects.toThrow('disk full');
    expect(await readdir(out)).toEqual(['a.txt']);
    expect(await readdir(dir)).toEqual(['export']);
  });
});
