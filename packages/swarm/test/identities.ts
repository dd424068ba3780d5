/** Real signing identities for tests that judge deltas without a libp2p node. */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  tensorFromTyped,
  verifyAdmission,
  type AdmissionJob,
  type AdmissionStamp,
  type DecodedFrame,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { AdmittedPeers, type JobAdmission } from '../src/admission.js';
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

/**
 * A fresh identity that none of `stamps` admits: at a test job's few difficulty bits (4: one id in 16) a
 * random id would sometimes pass under another peer's proof of work.
 */
export async function outsider(job: AdmissionJob, stamps: readonly AdmissionStamp[]): Promise<Identity> {
  for (;;) {
    const [who] = await identities(1);
    if (!stamps.some((stamp) => verifyAdmission(job, who!.id, stamp))) return who!;
  }
}

/** `header` signed by `who` (after a test changed its fields). */
export function signedBy(who: Identity, header: DeltaAnnouncement): DeltaAnnouncement {
  return { ...header, authorSignature: who.sign(header) };
}

/** A decoded delta frame, as gossip or a pull hands it to the verdict. */
export function deltaFrame(header: DeltaAnnouncement, part: Uint8Array): DecodedFrame {
  return { message: header, tensors: { part: tensorFromTyped('u8', [part.length], part) } };
}

/**
 * A proof-of-work stamp admitting `peer` to `job`, found synchronously (test jobs ask for a few bits only;
 * mintStamp is the real, yielding search).
 */
export function stampFor(job: AdmissionJob, peer: string): AdmissionStamp {
  for (let n = 0; ; n++) {
    const stamp: AdmissionStamp = { kind: 'pow', nonce: n.toString(16).padStart(16, '0') };
    if (verifyAdmission(job, peer, stamp)) return stamp;
  }
}

/** A stamp that does not admit `peer` to `job` (a nonce nobody worked for, checked to fail). */
export function forgedStamp(job: AdmissionJob, peer: string): AdmissionStamp {
  for (let n = 0xffff_ffff; ; n--) {
    const stamp: AdmissionStamp = { kind: 'pow', nonce: n.toString(16).padStart(16, '0') };
    if (!verifyAdmission(job, peer, stamp)) return stamp;
  }
}

/** What liveness and anti-entropy take: `who`'s stamp for the job and a fresh cache of admitted peers. */
export function admissionOf(job: AdmissionJob, who: Identity): JobAdmission {
  return { stamp: stampFor(job, who.id), peers: new AdmittedPeers(job) };
}
