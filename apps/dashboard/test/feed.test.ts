import {
  FrameTooLargeError,
  PROTOCOL_VERSION,
  UnsupportedVersionError,
  WrongJobError,
  decodeFrame,
  encodeFrame,
} from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { browserDialable, coordinatorPeerId, rejectionReason, type JobListing } from '../src/feed.js';

describe('browserDialable', () => {
  it('keeps only WebSocket multiaddrs', () => {
    const id = '/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
    expect(
      browserDialable([
        `/ip4/127.0.0.1/tcp/4001${id}`,
        `/ip4/127.0.0.1/tcp/4002/ws${id}`,
        `/dns4/example.org/tcp/443/wss${id}`,
        `/dns4/example.org/tcp/443/tls/ws${id}`,
      ]),
    ).toEqual([
      `/ip4/127.0.0.1/tcp/4002/ws${id}`,
      `/dns4/example.org/tcp/443/wss${id}`,
      `/dns4/example.org/tcp/443/tls/ws${id}`,
    ]);
  });
});

describe('coordinatorPeerId', () => {
  it('takes the peer of the first listed address, where the coordinator puts its own', () => {
    const listing = (bootstrap: string[]) => ({ bootstrap }) as unknown as JobListing;
    expect(
      coordinatorPeerId(
        listing(['/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWA', '/ip4/127.0.0.1/tcp/2/p2p/12D3KooWB']),
      ),
    ).toBe('12D3KooWA');
    expect(coordinatorPeerId(listing([]))).toBeNull();
  });
});

describe('rejectionReason', () => {
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
        return rejectionReason(e);
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
    expect(rejectionReason(new TypeError('not ours'))).toEqual({ action: 'reject', reason: 'malformed' });
    expect(rejectionReason(new UnsupportedVersionError(PROTOCOL_VERSION + 1, PROTOCOL_VERSION))).toEqual({
      action: 'ignore',
      reason: 'newer-version',
    });
    expect(rejectionReason(new WrongJobError('a', 'b')).reason).toBe('wrong-job');
    expect(rejectionReason(new FrameTooLargeError(10, 5)).reason).toBe('oversize');
  });
});
