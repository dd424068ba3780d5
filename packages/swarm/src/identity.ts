/**
 * Node identity persistence: the libp2p private key as protobuf bytes in a file, created on first use and
 * written atomically (temp file, fsync, rename) so a crash never leaves a half-written key behind.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { open, readFile, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
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
  await writeFileAtomic(path, privateKeyToProtobuf(key));
  return key;
}

async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}
