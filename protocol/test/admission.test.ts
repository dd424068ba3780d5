import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AdmissionStamp,
  issueTicket,
  jobIdFor,
  mintStamp,
  verifyAdmission,
  type AdmissionJob,
} from '../src/index.js';
import { errorName } from './helpers.js';

/** A fixed key, so the job id, and so every stamp and digest below, is the same in every run. */
const secretKey = new Uint8Array(32).fill(9);
const jobKey = bytesToHex(ed25519.getPublicKey(secretKey));
const open = (difficultyBits: number): AdmissionJob => ({
  jobId: jobIdFor('job', jobKey),
  jobKey,
  admission: { mode: 'open', difficultyBits },
});
const invite: AdmissionJob = { ...open(0), admission: { mode: 'invite' } };

describe('proof-of-work stamps', () => {
  it('mintStamp at difficulty d gives a stamp that verifies at d, for the peer and job it was minted for', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10 }),
        fc.string({ minLength: 1, maxLength: 60 }),
        async (d, peer) => {
          const job = open(d);
          const stamp = await mintStamp(job.jobId, peer, d);
          expect(AdmissionStamp.parse(stamp)).toEqual(stamp);
          expect(verifyAdmission(job, peer, stamp)).toBe(true);
          expect(verifyAdmission(open(Math.max(0, d - 1)), peer, stamp)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a stamp is bound to its peer and job, and short of a higher difficulty', async () => {
    const job = open(12);
    const stamp = await mintStamp(job.jobId, 'peer-a', 12);
    expect(verifyAdmission(job, 'peer-b', stamp)).toBe(false);
    expect(verifyAdmission({ ...job, jobId: jobIdFor('other', jobKey) }, 'peer-a', stamp)).toBe(false);
    // A nonce nobody worked for: passes 24 bits with probability 2^-24.
    expect(verifyAdmission(open(24), 'peer-a', { kind: 'pow', nonce: 'ffffffffffffffff' })).toBe(false);
    // Invite jobs take no work at all.
    expect(verifyAdmission(invite, 'peer-a', stamp)).toBe(false);
  });

  it('minting yields to the event loop and stops on abort', async () => {
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const minting = mintStamp(open(40).jobId, 'peer', 40, { signal: controller.signal, yieldEvery: 256 });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(minting).rejects.toThrow('stop');
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });
});

describe('tickets', () => {
  it('a ticket of the job key admits its peer to invite and open jobs, and no other peer', () => {
    const ticket = issueTicket(invite, 'peer-a', secretKey);
    expect(verifyAdmission(invite, 'peer-a', ticket)).toBe(true);
    expect(verifyAdmission(open(30), 'peer-a', ticket)).toBe(true);
    expect(verifyAdmission(invite, 'peer-b', ticket)).toBe(false);
  });

  it('a ticket signed by another key is refused, and another key cannot issue one', () => {
    const other = ed25519.utils.randomSecretKey();
    const otherJob = { ...invite, jobKey: bytesToHex(ed25519.getPublicKey(other)) };
    const forged = issueTicket(otherJob, 'peer-a', other);
    expect(verifyAdmission(invite, 'peer-a', forged)).toBe(false);
    expect(errorName(() => issueTicket(invite, 'peer-a', other))).toBe('JobKeyMismatchError');
    expect(verifyAdmission(invite, 'peer-a', { kind: 'ticket', signature: '00'.repeat(64) })).toBe(false);
  });
});
