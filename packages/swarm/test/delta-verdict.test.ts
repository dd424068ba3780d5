import {
  PROTOCOL_ERROR_NAMES,
  tensorFromTyped,
  FrameTooLargeError,
  PROTOCOL_VERSION,
  UnsupportedVersionError,
  WrongJobError,
  decodeFrame,
  encodeFrame,
  limitsFromManifest,
  maxDeltaPayloadBytes,
  sha256Hex,
} from '@slimswarm/protocol';
import { describe, expect, it, vi } from 'vitest';
import {
  IGNORE_REASONS,
  REJECT_REASONS,
  checkDelta,
  decodeJobFrame,
  ignored,
  rejected,
  verdictOfDecodeError,
} from '../src/delta-verdict.js';
import * as signature from '../src/signature.js';
import { AdmittedPeers } from '../src/admission.js';
import { deltaFrame, identities, signedBy, stampFor } from './identities.js';
import { deltaOf, loraJob, smallJob } from './parts.fixture.js';

describe('verdictOfDecodeError', () => {
  it('maps decode failures of real frames to the swarm vocabulary', () => {
    const frame = encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: 'other-job',
      modelSha256: null,
      from: { round: 0, modelSha256: 'a'.repeat(64) },
    });
    const failure = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return verdictOfDecodeError(e);
      }
      throw new Error('expected a decode failure');
    };
    expect(failure(() => decodeFrame(frame, { maxBytes: 1 << 20, jobId: 'job' }))).toEqual({
      action: 'reject',
      reason: 'wrong-job',
    });
    expect(failure(() => decodeFrame(frame, { maxBytes: 8 }))).toEqual({
      action: 'reject',
      reason: 'oversize',
    });
    expect(failure(() => decodeFrame(frame.subarray(0, 20), { maxBytes: 1 << 20 }))).toEqual({
      action: 'reject',
      reason: 'malformed',
    });
    expect(verdictOfDecodeError(new TypeError('not ours'))).toEqual({
      action: 'reject',
      reason: 'malformed',
    });
    expect(verdictOfDecodeError(new UnsupportedVersionError(PROTOCOL_VERSION + 1, PROTOCOL_VERSION))).toEqual(
      {
        action: 'ignore',
        reason: 'newer-version',
      },
    );
    expect(verdictOfDecodeError(new WrongJobError('a', 'b')).reason).toBe('wrong-job');
    expect(verdictOfDecodeError(new FrameTooLargeError(10, 5)).reason).toBe('oversize');
  });
});

describe('checkDelta', () => {
  it('a passive observer checks what needs no model: shape, job, codec, size, signature', async () => {
    const [a, b] = await identities(2);
    const { manifest, state } = smallJob();
    const { parts } = deltaOf(state(), a!);
    const p = parts[0]!;
    const observer = { manifest, admission: new AdmittedPeers(manifest), rounds: null };
    expect(checkDelta(deltaFrame(p.header, p.bytes), a!.id, observer).action).toBe('accept');
    // Someone else's delta under a's name, or a's header over other bytes.
    const asB = { ...p.header, admission: stampFor(manifest, b!.id) };
    expect(checkDelta(deltaFrame(asB, p.bytes), b!.id, observer)).toEqual(rejected('bad-signature'));
    expect(checkDelta(deltaFrame(p.header, p.bytes.subarray(1)), a!.id, observer)).toEqual(
      rejected('malformed'),
    );
    const f16 = signedBy(a!, { ...p.header, codec: 'dense-f16' });
    expect(checkDelta(deltaFrame(f16, p.bytes), a!.id, observer)).toEqual(rejected('wrong-codec'));
  });

  it('judges against the round state: duplicates, equivocation across parts, unknown base, late, far rounds', async () => {
    const [a, b] = await identities(2);
    const { manifest, state } = smallJob();
    const s = state();
    const { parts } = deltaOf(s, a!, 700); // several parts
    expect(parts.length).toBeGreaterThan(2);
    const frame = (i: number, header = parts[i]!.header) => deltaFrame(header, parts[i]!.bytes);
    const ctx = { manifest, admission: new AdmittedPeers(manifest), rounds: s };
    expect(s.offer(frame(0), a!.id, 0)).toEqual({ action: 'accept', completed: null });
    expect(s.offer(frame(0), a!.id, 0)).toEqual(ignored('duplicate'));
    // Another signed delta for the same round, part 1: the author equivocates.
    const other = deltaOf(s, a!, 700, 0.02).parts[1]!;
    expect(checkDelta(deltaFrame(other.header, other.bytes), a!.id, ctx)).toEqual(rejected('equivocation'));
    // Another author's delta on a base nobody knows; a's delta two rounds ahead.
    const unknownBase = signedBy(b!, {
      ...parts[1]!.header,
      baseModelSha256: 'e'.repeat(64),
      admission: stampFor(manifest, b!.id),
    });
    expect(checkDelta(frame(1, unknownBase), b!.id, ctx)).toEqual(rejected('unknown-base'));
    const far = signedBy(a!, { ...parts[1]!.header, round: 2, baseRound: 2 });
    expect(checkDelta(frame(1, far), a!.id, ctx)).toEqual(rejected('wrong-round'));
    for (let i = 1; i < parts.length; i++) s.offer(frame(i), a!.id, 0);
    expect(s.acceptedCount()).toBe(1);
    s.close(0);
    expect(checkDelta(frame(0), a!.id, ctx)).toEqual(ignored('late'));
  });

  it('checks the signature once per delta: a copy of a verified header is a duplicate without another check', async () => {
    const [a] = await identities(1);
    const { manifest, state } = smallJob();
    const s = state();
    const p = deltaOf(s, a!).parts[0]!;
    s.offer(deltaFrame(p.header, p.bytes), a!.id, 0);
    const verify = vi.spyOn(signature, 'verifyDeltaAuthor');
    expect(
      checkDelta(deltaFrame(p.header, p.bytes), a!.id, {
        manifest,
        admission: new AdmittedPeers(manifest),
        rounds: s,
      }),
    ).toEqual(ignored('duplicate'));
    expect(verify).not.toHaveBeenCalled();
    // The spy does see the checks it should: a new header is verified.
    const next = deltaOf(state(), a!, 1 << 20, 0.02).parts[0]!;
    checkDelta(deltaFrame(next.header, next.bytes), a!.id, {
      manifest,
      admission: new AdmittedPeers(manifest),
      rounds: s,
    });
    expect(verify).toHaveBeenCalledTimes(1);
    verify.mockRestore();
  });

  it('one set of frame limits: a dense f32 part longer than P bytes decodes, more than a dense delta does not', async () => {
    const [a] = await identities(1);
    const { manifest, state } = smallJob();
    const p = deltaOf(state(), a!).parts[0]!;
    expect(p.bytes.length).toBeGreaterThan(manifest.baseCheckpoint.params);
    const bytes = encodeFrame(p.header, { part: tensorFromTyped('u8', [p.bytes.length], p.bytes) });
    expect('frame' in decodeJobFrame(bytes, manifest, 'delta-announce')).toBe(true);
    const huge = new Uint8Array(manifest.baseCheckpoint.params * 4 + 65 * 1024);
    const tooBig = encodeFrame(
      { ...p.header, payloadBytes: huge.length },
      { part: tensorFromTyped('u8', [huge.length], huge) },
    );
    expect(decodeJobFrame(tooBig, manifest, 'delta-announce')).toEqual(rejected('oversize'));
    expect(decodeJobFrame(bytes, manifest, 'heartbeat')).toEqual(rejected('malformed'));
  });

  it("a LoRA job's deltas are bounded by its adapters: a payload sized for the base is refused before any part is held", async () => {
    const [a] = await identities(1);
    const baseParams = 64 * 1024;
    const { manifest, state, layout } = loraJob({}, baseParams);
    const s = state();
    // Part 0 of 2 of a dense delta of the whole base (256 KiB), well signed: small parts, a huge total.
    const payload = new Uint8Array(baseParams * 4).fill(1);
    const half = payload.length / 2;
    const digests = [payload.subarray(0, half), payload.subarray(half)].map((x) => sha256Hex(x));
    const header = signedBy(a!, {
      ...deltaOf(smallJob().state(), a!).delta.header,
      jobId: manifest.jobId,
      baseModelSha256: manifest.baseCheckpoint.sha256,
      admission: stampFor(manifest, a!.id),
      payloadBytes: payload.length,
      payloadSha256: sha256Hex(payload),
      partDigests: digests,
      part: { index: 0, count: 2 },
    });
    const part = deltaFrame(header, payload.subarray(0, half));
    expect(s.offer(part, a!.id, 0)).toEqual(rejected('oversize'));
    expect(s.heldBytes()).toBe(0);
    // The replica holds the adapters, and so does the frame limit of the job (not the base).
    expect(layout.size).toBe(128);
    expect(limitsFromManifest(manifest).maxTensorElements).toBe(maxDeltaPayloadBytes(128));
  });

  it('every protocol error name has a verdict', () => {
    for (const name of PROTOCOL_ERROR_NAMES) {
      const err = Object.assign(new Error(name), { name, code: 'ERR_X' });
      const v = verdictOfDecodeError(err);
      expect([...REJECT_REASONS, ...IGNORE_REASONS]).toContain(v.reason);
    }
  });
});

describe('parts are proved on arrival (signed part digests)', () => {
  it('a part that is not the slice its author signed is refused before any signature check, and not held', async () => {
    const [a] = await identities(1);
    const { manifest, state } = smallJob();
    const s = state();
    const { parts } = deltaOf(s, a!, 700);
    const p = parts[1]!;
    const tampered = Uint8Array.from(p.bytes, (x, i) => (i === 0 ? x ^ 1 : x));
    const verify = vi.spyOn(signature, 'verifyDeltaAuthor');
    expect(
      checkDelta(deltaFrame(p.header, tampered), a!.id, {
        manifest,
        admission: new AdmittedPeers(manifest),
        rounds: s,
      }),
    ).toEqual(rejected('bad-part-digest'));
    // An observer (no round state) checks it too: no honest peer forwards it.
    expect(
      checkDelta(deltaFrame(p.header, tampered), a!.id, {
        manifest,
        admission: new AdmittedPeers(manifest),
        rounds: null,
      }),
    ).toEqual(rejected('bad-part-digest'));
    expect(verify).not.toHaveBeenCalled();
    expect(s.offer(deltaFrame(p.header, tampered), a!.id, 0)).toEqual(rejected('bad-part-digest'));
    expect(s.heldBytes()).toBe(0);
    verify.mockRestore();
  });

  it('verifies the signature once per delta, counts the parts held, and takes a pulled payload whole', async () => {
    const [a, b] = await identities(2);
    const { state } = smallJob();
    const s = state();
    const { parts, delta } = deltaOf(s, a!, 700);
    const verify = vi.spyOn(signature, 'verifyDeltaAuthor');
    expect(s.offer(deltaFrame(parts[0]!.header, parts[0]!.bytes), a!.id, 0).action).toBe('accept');
    // Parts still arriving are held and counted (the heartbeat's memoryBytes includes them).
    expect(s.heldBytes()).toBe(parts[0]!.bytes.length);
    for (const p of parts.slice(1)) s.offer(deltaFrame(p.header, p.bytes), a!.id, 0);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(s.has(a!.id, 0)).toBe(true);
    // The same delta pulled whole (part 0 of 1 under the signed header): every slice checked at once.
    const t = state();
    const whole = { ...parts[0]!.header, part: { index: 0, count: 1 } };
    expect(t.offer(deltaFrame(whole, delta.payload), a!.id, 0).action).toBe('accept');
    expect(t.has(a!.id, 0)).toBe(true);
    // A whole payload that differs in one slice from what was signed for it is refused.
    const other = deltaOf(state(), b!, 700);
    const bad = Uint8Array.from(other.delta.payload, (x, i) =>
      i === other.delta.payload.length - 1 ? x ^ 1 : x,
    );
    const wholeB = { ...other.parts[0]!.header, part: { index: 0, count: 1 } };
    expect(t.offer(deltaFrame(wholeB, bad), b!.id, 0)).toEqual(rejected('bad-part-digest'));
    verify.mockRestore();
  });
});
