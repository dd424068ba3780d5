/**
 * The job's Ed25519 secret key: it signs the manifest the coordinator publishes and the admission tickets
 * it issues, and the job id ends with its public key's fingerprint. Kept as one line of hex (the 32-byte
 * seed) in an owner-only file, created on first start with temp file + fsync + rename, so a restart
 * publishes the same job and volunteers' pinned key still matches.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { jobKeyOf } from '@slimswarm/protocol';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { z } from 'zod';

/** The key file is missing (where it must exist) or does not hold one line of 64 lower-case hex characters. */
export class JobKeyFileError extends Error {
  static override name = 'JobKeyFileError';
  override name = 'JobKeyFileError';
}

const SeedHex = z.string().regex(/^[0-9a-f]{64}$/);

export interface JobKey {
  secretKey: Uint8Array;
  /** Raw public key, lower-case hex: the manifest's `jobKey`. */
  publicKey: string;
}

function fromSeed(secretKey: Uint8Array): JobKey {
  return { secretKey, publicKey: jobKeyOf(secretKey) };
}

/** A fresh key that lives as long as the process (a throwaway local swarm, a test). */
export function ephemeralJobKey(): JobKey {
  return fromSeed(new Uint8Array(randomBytes(32)));
}

async function readJobKey(path: string): Promise<JobKey | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const seed = SeedHex.safeParse(text.trim());
  if (!seed.success) throw new JobKeyFileError(`${path} does not hold a hex Ed25519 job key`);
  return fromSeed(Uint8Array.from(Buffer.from(seed.data, 'hex')));
}

/** Reads the key at `path`, which must exist (issuing tickets for a job that has no key is a mistake). */
export async function loadJobKey(path: string): Promise<JobKey> {
  const key = await readJobKey(path);
  if (!key) throw new JobKeyFileError(`no job key at ${path}`);
  return key;
}

/** Reads the key at `path` (the job stays the same job across restarts), or creates it there. */
export async function loadOrCreateJobKey(path: string): Promise<JobKey> {
  const existing = await readJobKey(path);
  if (existing) return existing;
  const key = ephemeralJobKey();
  await writeFileAtomic(path, `${Buffer.from(key.secretKey).toString('hex')}\n`, 0o600);
  return key;
}
