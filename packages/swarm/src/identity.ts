/**
 * Node identity persistence: the libp2p private key as protobuf bytes in a file, created on first use and
 * written atomically (temp file, fsync, rename) so a crash never leaves a half-written key behind.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { InvalidIdentityFileError } from './errors.js';

export async function loadOrCreateIdentity(path: string): Promise<PrivateKey> {
  let bytes: Uint8Array | null = null;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes) {
    try {
      return privateKeyFromProtobuf(bytes);
    } catch (err) {
      throw new InvalidIdentityFileError(
        `${path} does not hold a libp2p private key: ${(err as Error).message}`,
      );
    }
  }
  const key = await generateKeyPair('Ed25519');
  // Owner-only: the key is the peer's identity.
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600);
  return key;
}
