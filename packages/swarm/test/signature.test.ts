/** Delta author signatures: who signed, what they cover, and what they refuse. */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { PROTOCOL_VERSION, deltaSigningBytes, type DeltaAnnouncement } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { UnsupportedKeyTypeError } from '../src/errors.js';
import { deltaSigner, verifyDeltaAuthor } from '../src/signature.js';

const unsigned: Omit<DeltaAnnouncement, 'authorSignature'> = {
  type: 'delta-announce',
  version: PROTOCOL_VERSION,
  jobId: 'job',
  round: 3,
  baseRound: 3,
  baseModelSha256: 'a'.repeat(64),
  stats: { tokens: 512, steps: 8, meanLoss: 2.5 },
  codec: 'topk-int8',
  payloadBytes: 1234,
  payloadSha256: 'b'.repeat(64),
  admission: { kind: 'pow', nonce: '00'.repeat(8) },
  partDigests: ['c'.repeat(64), 'd'.repeat(64)],
  part: { index: 0, count: 2 },
};

describe('delta author signatures', () => {
  it('verify for the author only, on every part, and not once a signed field changes', async () => {
    const key = await generateKeyPair('Ed25519');
    const author = peerIdFromPrivateKey(key).toString();
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const header = { ...unsigned, authorSignature: deltaSigner(key)(unsigned) };
    expect(verifyDeltaAuthor(author, header)).toBe(true);
    // The same signature serves every gossip slice: `part` is not signed.
    expect(verifyDeltaAuthor(author, { ...header, part: { index: 1, count: 2 } })).toBe(true);
    // Handed on under another peer's name (what a forging pull responder would do): refused.
    expect(verifyDeltaAuthor(other, header)).toBe(false);
    for (const patch of [
      { round: 4 },
      { baseRound: 2 },
      { payloadSha256: 'c'.repeat(64) },
      { baseModelSha256: 'c'.repeat(64) },
      { stats: { ...unsigned.stats, meanLoss: 0.1 } },
      { partDigests: ['d'.repeat(64), 'c'.repeat(64)] },
      { authorSignature: '00'.repeat(64) },
    ]) {
      expect(verifyDeltaAuthor(author, { ...header, ...patch })).toBe(false);
    }
    expect(verifyDeltaAuthor('not-a-peer-id', header)).toBe(false);
  });

  it('binds the protocol version and leaves out the part and the admission stamp', () => {
    const bytes = (h: typeof unsigned) => new TextDecoder().decode(deltaSigningBytes(h));
    expect(bytes(unsigned)).toBe(bytes({ ...unsigned, part: { index: 1, count: 2 } }));
    expect(bytes(unsigned)).toBe(bytes({ ...unsigned, admission: { kind: 'pow', nonce: '11'.repeat(8) } }));
    expect(bytes(unsigned).startsWith(`slimswarm/delta-signature/${PROTOCOL_VERSION}\n`)).toBe(true);
  });

  it('signs with Ed25519 keys only', async () => {
    const secp = await generateKeyPair('secp256k1');
    expect(() => deltaSigner(secp)).toThrow(UnsupportedKeyTypeError);
    const secpAuthor = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString();
    const header = { ...unsigned, authorSignature: deltaSigner(await generateKeyPair('Ed25519'))(unsigned) };
    expect(verifyDeltaAuthor(secpAuthor, header)).toBe(false);
  });
});
