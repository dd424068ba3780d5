/**
 * Checkpoint files for Node (not for browser bundles: it imports node:fs). Writes are atomic: a reader, or
 * a crash at any moment, sees either the old file or the complete new one, never a torn mix.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sha256Hex } from '@slimswarm/protocol';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import type { Checkpoint, CheckpointExpectation } from './checkpoint.js';

/**
 * Writes to a temporary file in the same directory (rename is atomic only within one file system), fsyncs
 * it so the data is on disk before the name points at it, renames it over `path`, then fsyncs the
 * directory so the rename itself survives a power cut. Returns the checkpoint's SHA-256.
 */
export async function writeCheckpointFile(path: string, ckpt: Checkpoint): Promise<string> {
  const bytes = encodeCheckpoint(ckpt);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return sha256Hex(bytes);
}

export async function readCheckpointFile(path: string, expect?: CheckpointExpectation): Promise<Checkpoint> {
  return decodeCheckpoint(await readFile(path), expect);
}
