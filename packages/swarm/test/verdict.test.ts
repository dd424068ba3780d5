import {
  FrameTooLargeError,
  PROTOCOL_VERSION,
  UnsupportedVersionError,
  WrongJobError,
  decodeFrame,
  encodeFrame,
} from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { verdictOfDecodeError } from '../src/delta-verdict.js';

describe('verdictOfDecodeError', () => {
  it('maps decode failures of real frames to the swarm vocabulary', () => {
    const frame = encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: 'other-job',
      modelSha256: null,
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
