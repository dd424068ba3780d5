/** Frame surgery for tests: read a frame's parts and build frames around arbitrary header text. */
import { FRAME_MAGIC, FRAME_PREAMBLE_BYTES, PROTOCOL_VERSION } from '../src/index.js';

export interface FrameParts {
  version: number;
  headerText: string;
  payload: Uint8Array;
}

export function splitFrame(frame: Uint8Array): FrameParts {
  const headerBytes = new DataView(frame.buffer, frame.byteOffset).getUint32(5, true);
  return {
    version: frame[4]!,
    headerText: new TextDecoder().decode(
      frame.subarray(FRAME_PREAMBLE_BYTES, FRAME_PREAMBLE_BYTES + headerBytes),
    ),
    payload: frame.subarray(FRAME_PREAMBLE_BYTES + headerBytes),
  };
}

/** A frame with exactly this header text (no padding added) and payload, and a truthful length field. */
export function buildFrame(
  headerText: string,
  payload: Uint8Array = new Uint8Array(0),
  version = PROTOCOL_VERSION,
): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const frame = new Uint8Array(FRAME_PREAMBLE_BYTES + header.length + payload.length);
  frame.set(FRAME_MAGIC, 0);
  frame[4] = version;
  new DataView(frame.buffer).setUint32(5, header.length, true);
  frame.set(header, FRAME_PREAMBLE_BYTES);
  frame.set(payload, FRAME_PREAMBLE_BYTES + header.length);
  return frame;
}

/** Pads header JSON with spaces as the encoder does, so the payload starts 8-byte aligned. */
export function padHeader(json: string): string {
  const length = new TextEncoder().encode(json).length;
  const padded = Math.ceil((FRAME_PREAMBLE_BYTES + length) / 8) * 8 - FRAME_PREAMBLE_BYTES;
  return json + ' '.repeat(padded - length);
}

/** Runs `fn` and returns what it throws (fails the test if it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw, got a result');
}

/** Runs `fn` and returns the name of the error it throws. */
export function errorName(fn: () => unknown): string {
  const e = thrown(fn);
  return e instanceof Error ? e.name : `non-Error ${String(e)}`;
}
