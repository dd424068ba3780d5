/**
 * Checkpoint files for Node (not for browser bundles: it imports node:fs). Writes are atomic: a reader, or
 * a crash at any moment, sees either the old file or the complete new one, never a torn mix.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { sha256Hex } from '@slimswarm/protocol';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import type { Checkpoint, CheckpointExpectation } from './checkpoint.js';

/** Writes the checkpoint atomically (see writeFileAtomic); returns its SHA-256. */
export async function writeCheckpointFile(path: string, ckpt: Checkpoint): Promise<string> {
  const bytes = encodeCheckpoint(ckpt);
  await writeFileAtomic(path, bytes);
  return sha256Hex(bytes);
}

export async function readCheckpointFile(path: string, expect?: CheckpointExpectation): Promise<Checkpoint> {
  return decodeCheckpoint(await readFile(path), expect);
}
