/**
 * Delta author signatures (protocol v2, `DeltaAnnouncement.authorSignature`). Gossipsub signs each gossip
 * message, but a delta recovered over an anti-entropy pull arrives from whoever held it; the author's
 * own Ed25519 signature over `deltaSigningBytes` lets any receiver check who made it, so a responder can
 * neither forge a delta in an honest peer's name (and so block that peer's real one as an equivocation)
 * nor alter one. Synchronous (@noble/curves) so that gossip validation stays synchronous.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { deltaSigningBytes, type DeltaAnnouncement } from '@slimswarm/protocol';
import { fromString, toString } from 'uint8arrays';
import { UnsupportedKeyTypeError } from './errors.js';

/** What the author signs: every header field but the part, the signature and the admission stamp. */
export type UnsignedDelta = Omit<DeltaAnnouncement, 'part' | 'authorSignature' | 'admission'>;

/** Signs delta headers with this peer's key; the signature is `authorSignature` (hex). */
export type DeltaSigner = (header: UnsignedDelta) => string;

export function deltaSigner(key: PrivateKey): DeltaSigner {
  if (key.type !== 'Ed25519') {
    throw new UnsupportedKeyTypeError(`deltas are signed with Ed25519 keys, not ${key.type}`);
  }
  const seed = key.raw.subarray(0, 32); // libp2p keeps the 32-byte seed followed by the public key
  return (header) => toString(ed25519.sign(deltaSigningBytes(header), seed), 'base16');
}

/** Whether `header` carries a valid signature by `author` (a peer id with an embedded Ed25519 key). */
export function verifyDeltaAuthor(author: string, header: DeltaAnnouncement): boolean {
  try {
    const publicKey = peerIdFromString(author).publicKey;
    if (publicKey?.type !== 'Ed25519') return false;
    return ed25519.verify(
      fromString(header.authorSignature, 'base16'),
      deltaSigningBytes(header),
      publicKey.raw,
    );
  } catch {
    return false;
  }
}
