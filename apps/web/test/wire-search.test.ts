/** The privacy check of the e2e test must be able to fail: its search finds the marker in every form. */
import { PROTOCOL_VERSION, encodeFrame, tensorFromTyped } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { indexOfBytes, markerForms } from './harness.js';

const MARKER = 'private-3f1c9a';

function found(bytes: Uint8Array): boolean {
  return markerForms(MARKER).some((form) => indexOfBytes(bytes, form) >= 0);
}

describe('the wire search', () => {
  it('finds the marker as text, as UTF-16 and as byte-token ids inside a frame', () => {
    const utf8 = new TextEncoder().encode(`before ${MARKER} after`);
    const utf16 = new Uint8Array(new Uint16Array([...`x${MARKER}`].map((c) => c.charCodeAt(0))).buffer);
    const tokens = Int32Array.from(new TextEncoder().encode(`..${MARKER}..`));
    const frame = encodeFrame(
      {
        type: 'weight-sync-response',
        version: PROTOCOL_VERSION,
        jobId: 'job',
        status: 'ok',
        round: 0,
        modelSha256: null,
        records: 0,
      },
      { leaked: tensorFromTyped('i32', [tokens.length], tokens) },
    );
    expect([found(utf8), found(utf16), found(frame)]).toEqual([true, true, true]);
  });

  it('finds nothing where the marker is absent or cut short', () => {
    expect(found(new TextEncoder().encode(MARKER.slice(0, -1)))).toBe(false);
    expect(found(new Uint8Array(0))).toBe(false);
  });
});
