import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Message,
  PROTOCOL_LIMITS,
  UnsupportedVersionError,
  decodeFrame,
  decodeSafetensors,
  sha256Hex,
} from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { errorName, thrown } from './helpers.js';
import {
  encodeValidFrame,
  encodeValidSafetensors,
  rejectFrames,
  validFrames,
  validSafetensors,
} from './vectors/sources.js';

const folder = new URL('./vectors/', import.meta.url);
const read = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(file, folder)));
const index = JSON.parse(readFileSync(new URL('index.json', folder), 'utf8')) as {
  file: string;
  sha256: string;
  bytes: number;
}[];
const maxBytes = PROTOCOL_LIMITS.maxGossipFrameBytes;

function expectTensors(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, t] of Object.entries(expected)) {
    expect({ ...actual[name]!, data: [...actual[name]!.data] }).toEqual({ ...t, data: [...t.data] });
  }
}

describe('golden vectors', () => {
  it('the index lists every vector with its digest and size', () => {
    const files = [...validFrames, ...rejectFrames, ...validSafetensors].map((v) => v.file);
    expect(index.map((entry) => entry.file).sort()).toEqual(files.sort());
    for (const entry of index) {
      const bytes = read(entry.file);
      expect(bytes.length, entry.file).toBe(entry.bytes);
      expect(sha256Hex(bytes), entry.file).toBe(entry.sha256);
    }
  });

  it('the smallest frame is laid out byte by byte as the README says', () => {
    const header =
      '{"message":{"from":{"modelSha256":"' +
      '1e'.repeat(32) +
      '","round":0},"jobId":"tiny-shakespeare","modelSha256":null,"type":"weight-sync-request","version":6},' +
      '"tensors":[]}';
    const padded = header.padEnd(Math.ceil((9 + header.length) / 8) * 8 - 9, ' ');
    const expected = new Uint8Array(9 + padded.length);
    expected.set([0x53, 0x4c, 0x53, 0x57, 0x06, padded.length & 0xff, padded.length >> 8, 0, 0]);
    expected.set(new TextEncoder().encode(padded), 9);
    expect(read('weight-sync-request.bin')).toEqual(expected);
  });

  for (const vector of validFrames) {
    it(`${vector.file} decodes to its message and tensors, and encoding them gives the file`, () => {
      const bytes = read(vector.file);
      const decoded = decodeFrame(bytes, { maxBytes, jobId: vector.message.jobId });
      expect(decoded.message).toEqual(Message.parse(vector.message));
      expectTensors(decoded.tensors, vector.tensors);
      expect(encodeValidFrame(vector)).toEqual(bytes);
    });
  }

  const valid = (file: string) => read(file);
  for (const vector of rejectFrames) {
    it(`${vector.file} is rejected with ${vector.error} (${vector.description})`, () => {
      const bytes = read(vector.file);
      expect(vector.make(valid)).toEqual(bytes);
      const opts = vector.jobId === undefined ? { maxBytes } : { maxBytes, jobId: vector.jobId };
      expect(errorName(() => decodeFrame(bytes, opts))).toBe(vector.error);
    });
  }

  it('the version vectors tell newer (ignore) from older (reject)', () => {
    for (const [file, newer] of [
      ['reject-version-7.bin', true],
      ['reject-version-5.bin', false],
    ] as const) {
      const error = thrown(() => decodeFrame(read(file), { maxBytes }));
      expect(error).toBeInstanceOf(UnsupportedVersionError);
      expect((error as UnsupportedVersionError).newer).toBe(newer);
    }
  });

  for (const vector of validSafetensors) {
    it(`${vector.file} decodes to its tensors and metadata, and encoding them gives the file`, () => {
      const bytes = read(vector.file);
      const decoded = decodeSafetensors(bytes);
      expect(decoded.metadata).toEqual(vector.metadata);
      expectTensors(decoded.tensors, vector.tensors);
      expect(encodeValidSafetensors(vector)).toEqual(bytes);
    });
  }
});
