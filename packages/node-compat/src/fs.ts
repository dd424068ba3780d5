/**
 * Atomic file replacement for every Node process of slimswarm (checkpoints, identity keys, corpus
 * shards): a reader, or a crash at any moment, sees either the old file or the complete new one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes to a temporary file in the same directory (rename is atomic only within one file system), fsyncs
 * it so the data is on disk before the name points at it, renames it over `path`, then fsyncs the
 * directory so the rename itself survives a power cut. Creates the directory if needed.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx', mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  await syncPath(dir);
}

/**
 * Writes a whole folder so that `path` names either the old folder (or nothing) or the complete new one:
 * `fill` writes into a fresh temporary folder beside it (same file system), which is fsynced and renamed
 * to `path`. An existing folder at `path` is moved aside first and deleted once the new one is in place;
 * between those two renames the name is briefly missing, never half-written.
 */
export async function writeDirAtomic(path: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const parent = dirname(path);
  await mkdir(parent, { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const temp = join(parent, `.${basename(path)}.${tag}.tmp`);
  const old = join(parent, `.${basename(path)}.${tag}.old`);
  await mkdir(temp);
  let movedAside = false;
  try {
    await fill(temp);
    await syncPath(temp);
    movedAside = await rename(path, old).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      },
    );
    await rename(temp, path);
  } catch (e) {
    if (movedAside) await rename(old, path).catch(() => undefined);
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  if (movedAside) await rm(old, { recursive: true, force: true });
  await syncPath(parent);
}

/** fsync of a file or folder (a folder's entries: the renames into it). */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
