/**
 * Feeds random and mutated frames to decodeFrame. Every input must either be rejected with a protocol
 * error or be a genuinely valid frame: one that re-encodes to the identical bytes, passes the schema,
 * belongs to the job and holds only finite floats (checked here independently of the decoder).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_MAGIC,
  FRAME_PREAMBLE_BYTES,
  Message,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  canonicalJson,
  decodeFrame,
  encodeFrame,
  f32Tensor,
  isFloatDType,
  isProtocolError,
  jobIdFor,
} from '../src/index.js';
import type { DecodedFrame, MessageInput, Tensor } from '../src/index.js';
import { messagesByType, tensorOf, tensorSet } from './arbitraries.js';
import { buildFrame, padHeader, splitFrame } from './helpers.js';

/** Any 32-byte key: every message gets this job, and a manifest must name the key its id is bound to. */
const JOB_KEY = '3b'.repeat(32);
const JOB = jobIdFor('fuzz-job', JOB_KEY);
const FRAMES_PER_KIND = 1500;
const opts = { maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes, jobId: JOB };

/** mulberry32: a small seeded generator, so that every run fuzzes the same frames. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Base {
  frame: Uint8Array;
  decoded: DecodedFrame;
}

/** Valid frames of every message type, with tensors of every dtype (floats included). */
function baseFrames(): Base[] {
  const bases: Base[] = [];
  let seed = 1;
  for (const arbitrary of Object.values(messagesByType) as fc.Arbitrary<MessageInput>[]) {
    for (const message of fc.sample(arbitrary, { numRuns: 6, seed: seed++ })) {
      const [tensors] = fc.sample(tensorSet, { numRuns: 1, seed: seed++ });
      // At least one non-empty float tensor, as the NaN mutation needs one.
      const values = f32Tensor(
        [8],
        Float32Array.from({ length: 8 }, (_, i) => (i - 4) * seed),
      );
      const [half] = fc.sample(tensorOf(seed % 2 === 0 ? 'f16' : 'bf16', 5), { numRuns: 1, seed: seed++ });
      const job = message.type === 'job-manifest' ? { jobId: JOB, jobKey: JOB_KEY } : { jobId: JOB };
      const frame = encodeFrame({ ...message, ...job }, { ...tensors, values, half: half! });
      bases.push({ frame, decoded: decodeFrame(frame, opts) });
    }
  }
  return bases;
}

/** Independent check of float finiteness, element by element through a DataView. */
function allFinite(t: Tensor): boolean {
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  switch (t.dtype) {
    case 'f32':
      for (let i = 0; i < t.data.length; i += 4) if (!Number.isFinite(view.getFloat32(i, true))) return false;
      return true;
    case 'f64':
      for (let i = 0; i < t.data.length; i += 8) if (!Number.isFinite(view.getFloat64(i, true))) return false;
      return true;
    case 'f16':
      for (let i = 0; i < t.data.length; i += 2)
        if (((view.getUint16(i, true) >> 10) & 0x1f) === 0x1f) return false;
      return true;
    case 'bf16':
      // bf16 is the top half of an f32.
      for (let i = 0; i < t.data.length; i += 2) {
        if (
          !Number.isFinite(
            new DataView(Uint32Array.of(view.getUint16(i, true) << 16).buffer).getFloat32(0, true),
          )
        ) {
          return false;
        }
      }
      return true;
    default:
      return !isFloatDType(t.dtype);
  }
}

function isGenuinelyValid(bytes: Uint8Array, decoded: DecodedFrame): boolean {
  const again = encodeFrame(decoded.message, decoded.tensors);
  return (
    again.length === bytes.length &&
    again.every((b, i) => b === bytes[i]) &&
    Message.safeParse(decoded.message).success &&
    decoded.message.jobId === JOB &&
    Object.values(decoded.tensors).every(allFinite)
  );
}

type Mutation = (base: Base, random: () => number, other: Base) => Uint8Array;

const below = (random: () => number, n: number) => Math.floor(random() * n);

function randomBytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => below(random, 256));
}

/** Header JSON edited structurally, re-padded and framed with a truthful length: reaches the deep checks. */
function editHeader(base: Base, random: () => number): Uint8Array {
  const { headerText, payload } = splitFrame(base.frame);
  const header = JSON.parse(headerText) as {
    message: Record<string, unknown>;
    tensors: Record<string, unknown>[];
  };
  const table = header.tensors;
  const pick = table[below(random, table.length)]!;
  const shape = pick.shape as number[];
  const keys = Object.keys(header.message);
  const key = keys[below(random, keys.length)]!;
  const edits: (() => void)[] = [
    () => {
      const axis = below(random, shape.length);
      if (shape.length > 0) shape[axis] = shape[axis]! + below(random, 2) * 2 - 1;
    },
    () => shape.push(below(random, 3)),
    () => shape.pop(),
    () =>
      (pick.dtype = ['f32', 'f16', 'bf16', 'f64', 'i8', 'u8', 'i32', 'u32', 'i64', 'f8'][below(random, 10)]),
    () => (pick.name = random() < 0.5 ? '' : 'x'.repeat(below(random, 300))),
    () => table.push({ ...pick }),
    () => table.splice(below(random, table.length), 1),
    () => delete header.message[key],
    () => (header.message[key] = [null, -1, 2 ** 60, 'x', {}, [], true, 1.5][below(random, 8)]),
    () => (header.message.jobId = 'other-job'),
    () => (header.message.version = PROTOCOL_VERSION + 1),
    () => (header.message.type = 'heartbeat'),
  ];
  const edit = edits[below(random, edits.length)]!;
  edit();
  return buildFrame(padHeader(canonicalJson(header)), payload);
}

const mutations: Record<string, Mutation> = {
  bitFlips: ({ frame }, random) => {
    const bytes = frame.slice();
    for (let k = 1 + below(random, 8); k > 0; k--) {
      const at = below(random, bytes.length);
      bytes[at] = bytes[at]! ^ (1 << below(random, 8));
    }
    return bytes;
  },
  truncation: ({ frame }, random) => frame.slice(0, below(random, frame.length)),
  headerLengthLie: ({ frame }, random) => {
    const bytes = frame.slice();
    const view = new DataView(bytes.buffer);
    const lie = random() < 0.3 ? below(random, 2 ** 32) : view.getUint32(5, true) + below(random, 33) - 16;
    view.setUint32(5, Math.max(0, lie) >>> 0, true);
    return bytes;
  },
  nonFinitePayload: ({ frame, decoded }, random) => {
    const bytes = frame.slice();
    const floats = Object.values(decoded.tensors).filter((t) => isFloatDType(t.dtype) && t.data.length > 0);
    const t = floats[below(random, floats.length)]!;
    const size = { f32: 4, f64: 8, f16: 2, bf16: 2 }[t.dtype as 'f32' | 'f64' | 'f16' | 'bf16'];
    const at = t.data.byteOffset - frame.byteOffset + below(random, t.data.length / size) * size;
    const view = new DataView(bytes.buffer);
    const sign = random() < 0.5 ? 0x8000 : 0;
    const quiet = random() < 0.5 ? 1 : 0; // 0: infinity, 1: NaN
    if (t.dtype === 'f32') view.setUint32(at, ((sign << 16) | 0x7f800000 | (quiet << 22)) >>> 0, true);
    else if (t.dtype === 'f64')
      view.setBigUint64(at, (BigInt(sign) << 48n) | 0x7ff0000000000000n | (BigInt(quiet) << 51n), true);
    else if (t.dtype === 'f16') view.setUint16(at, sign | 0x7c00 | (quiet << 9), true);
    else view.setUint16(at, sign | 0x7f80 | (quiet << 6), true);
    return bytes;
  },
  headerDigitEdit: ({ frame }, random) => {
    const bytes = frame.slice();
    const headerBytes = new DataView(bytes.buffer).getUint32(5, true);
    const digits: number[] = [];
    for (let i = FRAME_PREAMBLE_BYTES; i < FRAME_PREAMBLE_BYTES + headerBytes; i++) {
      if (bytes[i]! >= 0x30 && bytes[i]! <= 0x39) digits.push(i);
    }
    if (digits.length > 0) bytes[digits[below(random, digits.length)]!] = 0x30 + below(random, 10);
    return bytes;
  },
  headerCharEdit: ({ frame }, random) => {
    const bytes = frame.slice();
    const headerBytes = new DataView(bytes.buffer).getUint32(5, true);
    bytes[FRAME_PREAMBLE_BYTES + below(random, headerBytes)] = 0x20 + below(random, 0x5f);
    return bytes;
  },
  headerStructureEdit: (base, random) => editHeader(base, random),
  randomBytes: (_base, random) => {
    const bytes = randomBytes(random, below(random, 400));
    if (random() < 0.5 && bytes.length >= 5) {
      bytes.set(FRAME_MAGIC, 0);
      bytes[4] = PROTOCOL_VERSION;
    }
    return bytes;
  },
  trailingJunk: ({ frame }, random) => {
    const junk = randomBytes(random, 1 + below(random, 16));
    const bytes = new Uint8Array(frame.length + junk.length);
    bytes.set(frame);
    bytes.set(junk, frame.length);
    return bytes;
  },
  splice: ({ frame }, random) => {
    const at = below(random, frame.length);
    const insert = random() < 0.5 ? randomBytes(random, 1 + below(random, 8)) : new Uint8Array(0);
    const rest = frame.subarray(
      Math.min(frame.length, at + (insert.length === 0 ? 1 + below(random, 8) : 0)),
    );
    const bytes = new Uint8Array(at + insert.length + rest.length);
    bytes.set(frame.subarray(0, at));
    bytes.set(insert, at);
    bytes.set(rest, at + insert.length);
    return bytes;
  },
  versionByte: ({ frame }, random) => {
    const bytes = frame.slice();
    bytes[4] = (PROTOCOL_VERSION + 1 + below(random, 255)) % 256;
    return bytes;
  },
  crossover: ({ frame }, _random, other) => {
    const { headerText } = splitFrame(frame);
    return buildFrame(headerText, splitFrame(other.frame).payload);
  },
};

/** Mutations after which no valid frame can remain, and the one error that must say so. */
const expectedError: Record<string, string> = {
  truncation: 'TruncatedFrameError',
  nonFinitePayload: 'NonFiniteTensorError',
  trailingJunk: 'TensorBoundsError',
  versionByte: 'UnsupportedVersionError',
};

describe('frame decoder fuzzing', () => {
  it('rejects every invalid frame with a protocol error and accepts only valid ones', () => {
    const started = performance.now();
    const bases = baseFrames();
    const random = rng(20260425);
    const byKind: Record<string, { tried: number; rejected: number; accepted: number }> = {};
    const byError: Record<string, number> = {};
    const uncaught: string[] = [];
    const invalidAccepted: string[] = [];
    const wrongError: string[] = [];
    let acceptedMutants = 0;

    const feed = (kind: string, bytes: Uint8Array, base?: Base) => {
      const stats = (byKind[kind] ??= { tried: 0, rejected: 0, accepted: 0 });
      stats.tried++;
      let decoded: DecodedFrame;
      try {
        decoded = decodeFrame(bytes, opts);
      } catch (e) {
        if (!isProtocolError(e)) {
          uncaught.push(`${kind}: ${String(e)}`);
          return;
        }
        stats.rejected++;
        byError[e.name] = (byError[e.name] ?? 0) + 1;
        if (expectedError[kind] !== undefined && e.name !== expectedError[kind]) {
          wrongError.push(`${kind}: ${e.name} ${e.message}`);
        }
        return;
      }
      stats.accepted++;
      if (!isGenuinelyValid(bytes, decoded)) invalidAccepted.push(kind);
      if (expectedError[kind] !== undefined) wrongError.push(`${kind}: accepted`);
      if (
        base !== undefined &&
        (bytes.length !== base.frame.length || bytes.some((b, i) => b !== base.frame[i]))
      ) {
        acceptedMutants++;
      }
    };

    for (const base of bases) feed('unmodified', base.frame);
    for (const [kind, mutate] of Object.entries(mutations)) {
      for (let i = 0; i < FRAMES_PER_KIND; i++) {
        const base = bases[below(random, bases.length)]!;
        const other = bases[below(random, bases.length)]!;
        feed(kind, mutate(base, random, other), base);
      }
    }

    const tried = Object.values(byKind).reduce((n, s) => n + s.tried, 0);
    const rejected = Object.values(byKind).reduce((n, s) => n + s.rejected, 0);
    const accepted = Object.values(byKind).reduce((n, s) => n + s.accepted, 0);
    console.log(
      JSON.stringify({
        fuzz: 'decodeFrame',
        tried,
        rejected,
        accepted,
        acceptedMutants,
        uncaught: uncaught.length,
        invalidAccepted: invalidAccepted.length,
        ms: Math.round(performance.now() - started),
        byKind,
        byError,
      }),
    );

    expect(tried).toBeGreaterThanOrEqual(10_000);
    expect(uncaught).toEqual([]);
    expect(invalidAccepted).toEqual([]);
    expect(wrongError).toEqual([]);
    expect(byKind.unmodified).toEqual({ tried: bases.length, rejected: 0, accepted: bases.length });
    // Each mutation kind must actually reach the decoder's checks, not just bounce off one of them.
    for (const [kind, stats] of Object.entries(byKind)) {
      if (kind !== 'unmodified') expect(stats.rejected, kind).toBeGreaterThan(0);
    }
    expect(Object.keys(byError).sort()).toEqual(
      expect.arrayContaining([
        'BadMagicError',
        'LimitExceededError',
        'NonCanonicalError',
        'NonFiniteTensorError',
        'SchemaViolationError',
        'TensorBoundsError',
        'TruncatedFrameError',
        'UnsupportedVersionError',
        'WrongJobError',
      ]),
    );
  });
});
