/** Real signing identities for tests that judge deltas without a libp2p node. */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { tensorFromTyped, type DecodedFrame, type DeltaAnnouncement } from '@slimswarm/protocol';
import { deltaSigner, type DeltaSigner } from '../src/signature.js';

export interface Identity {
  /** The peer id string deltas are judged under. */
  id: string;
  sign: DeltaSigner;
}

export async function identities(n: number): Promise<Identity[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const key = await generateKeyPair('Ed25519');
      return { id: peerIdFromPrivateKey(key).toString(), sign: deltaSigner(key) };
    }),
  );
}

/** `header` signed by `who` (after a test changed its fields). */
export function signedBy(who: Identity, header: DeltaAnnouncement): DeltaAnnouncement {
  return { ...header, authorSignature: who.sign(header) };
}

/** A decoded delta frame, as gossip or a pull hands it to the verdict. */
export function deltaFrame(header: DeltaAnnouncement, part: Uint8Array): DecodedFrame {
  return { message: header, tensors: { part: tensorFromTyped('u8', [part.length], part) } };
}
