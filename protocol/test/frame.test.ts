import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_PREAMBLE_BYTES,
  Message,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  UnsupportedVersionError,
  decodeFrame,
  encodeFrame,
  f32Tensor,
  limitsFromManifest,
  maxDeltaPayloadBytes,
  tensorFromTyped,
  tensorToF32,
  tightenLimits,
  trainableParamCount,
} from '../src/index.js';
import type { DecodedFrame, JobManifest, MessageInput, Tensor } from '../src/index.js';
import { jobManifest, messagesByType, tensorSet } from './arbitraries.js';
import { buildFrame, errorName, padHeader, splitFrame, thrown } from './helpers.js';

const gossip = { maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes };

const request: MessageInput = {
  type: 'weight-sync-request',
  version: 6,
  jobId: 'job-1',
  modelSha256: null,
  from: { round: 0, modelSha256: 'a'.repeat(64) },
};

const sha = 'ab'.repeat(32);

function announce(round = 3): MessageInput {
  return {
    type: 'delta-announce',
    version: 6,
    jobId: 'job-1',
    round,
    baseRound: round,
    baseModelSha256: sha,
    stats: { tokens: 1000, steps: 10, meanLoss: 2.5 },
    codec: 'dense-f32',
    payloadBytes: 16,
    payloadSha256: sha,
    authorSignature: '5a'.repeat(64),
    admission: { kind: 'pow', nonce: '00'.repeat(8) },
    partDigests: [sha],
    part: { index: 0, count: 1 },
  };
}

function expectSameTensors(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, t] of Object.entries(expected)) {
    const got = actual[name]!;
    expect(got.dtype).toBe(t.dtype);
    expect(got.shape).toEqual(t.shape);
    expect([...got.data]).toEqual([...t.data]);
  }
}

function reencode(decoded: DecodedFrame): Uint8Array {
  return encodeFrame(decoded.message, decoded.tensors);
}

describe('frame round trip', () => {
  for (const [type, arbitrary] of Object.entries(messagesByType)) {
    it(`${type}: decode(encode(m, tensors)) gives m with defaults and the same tensors, re-encoding is identical`, () => {
      fc.assert(
        fc.property(arbitrary, tensorSet, (message, tensors) => {
          const frame = encodeFrame(message, tensors);
          const decoded = decodeFrame(frame, {
            maxBytes: PROTOCOL_LIMITS.maxStreamFrameBytes,
            jobId: message.jobId,
          });
          expect(decoded.message).toEqual(Message.parse(message));
          expectSameTensors(decoded.tensors, tensors);
          expect(reencode(decoded)).toEqual(frame);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('does not depend on tensor insertion order or on spelled-out defaults', () => {
    const a = f32Tensor([2], Float32Array.of(1, 2));
    const b = f32Tensor([1], Float32Array.of(3));
    const manifest = fc.sample(jobManifest, { numRuns: 1, seed: 7 })[0]!;
    expect(encodeFrame(manifest, { a, b })).toEqual(encodeFrame(Message.parse(manifest), { b, a }));
  });

  it('starts the payload and every tensor at a multiple of 8 and returns views of the frame', () => {
    fc.assert(
      fc.property(tensorSet, (tensors) => {
        const frame = encodeFrame(request, tensors);
        const decoded = decodeFrame(frame, gossip);
        for (const t of Object.values(decoded.tensors)) {
          expect(t.data.buffer).toBe(frame.buffer);
          expect(t.data.byteOffset % 8).toBe(0);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('writes -0 as 0', () => {
    const message = { ...announce(), stats: { tokens: 1, steps: 1, meanLoss: -0 } };
    const decoded = decodeFrame(encodeFrame(message), gossip);
    expect(Object.is((decoded.message as { stats: { meanLoss: number } }).stats.meanLoss, 0)).toBe(true);
  });

  it('carries f32 values bit-exactly', () => {
    const values = Float32Array.of(0, -1.5, 3.4028234663852886e38, 1.401298464324817e-45, -0);
    const decoded = decodeFrame(encodeFrame(announce(), { values: f32Tensor([5], values) }), gossip);
    expect(new Uint32Array(tensorToF32(decoded.tensors.values!).buffer)).toEqual(
      new Uint32Array(values.buffer),
    );
  });
});

describe('frame decoder rejections', () => {
  const frame = encodeFrame(announce(), {
    values: f32Tensor([2, 2], Float32Array.of(1, 2, 3, 4)),
    size: { dtype: 'u32', shape: [1], data: Uint8Array.of(4, 0, 0, 0) },
    gaps: { dtype: 'u8', shape: [3], data: Uint8Array.of(1, 2, 3) },
  });
  const { headerText, payload } = splitFrame(frame);
  const header = JSON.parse(headerText) as {
    message: Record<string, unknown>;
    tensors: Record<string, unknown>[];
  };

  it('accepts the unmodified frame', () => {
    expect(reencode(decodeFrame(frame, { ...gossip, jobId: 'job-1' }))).toEqual(frame);
  });

  it('checks the size first', () => {
    expect(errorName(() => decodeFrame(frame, { maxBytes: frame.length - 1 }))).toBe('FrameTooLargeError');
    expect(
      errorName(() => decodeFrame(new Uint8Array(PROTOCOL_LIMITS.maxGossipFrameBytes + 1), gossip)),
    ).toBe('FrameTooLargeError');
    // The caller's limit never exceeds the protocol's stream limit.
    const huge = new Uint8Array(PROTOCOL_LIMITS.maxStreamFrameBytes + 1);
    expect(errorName(() => decodeFrame(huge, { maxBytes: 2 ** 40 }))).toBe('FrameTooLargeError');
  });

  it('rejects bad magic', () => {
    const bad = frame.slice();
    bad[1] = 0;
    expect(errorName(() => decodeFrame(bad, gossip))).toBe('BadMagicError');
    expect(errorName(() => decodeFrame(new TextEncoder().encode('{"type":"heartbeat"}'), gossip))).toBe(
      'BadMagicError',
    );
  });

  it('rejects every strict prefix as truncated', () => {
    for (let length = 0; length < frame.length; length++) {
      expect(errorName(() => decodeFrame(frame.subarray(0, length), gossip))).toBe('TruncatedFrameError');
    }
  });

  it('rejects other versions, marking newer ones so that they can be ignored', () => {
    for (const version of [PROTOCOL_VERSION + 1, 255, 0]) {
      const bad = frame.slice();
      bad[4] = version;
      const error = thrown(() => decodeFrame(bad, gossip));
      expect(error).toBeInstanceOf(UnsupportedVersionError);
      expect((error as UnsupportedVersionError).newer).toBe(version > PROTOCOL_VERSION);
      expect((error as UnsupportedVersionError).version).toBe(version);
    }
  });

  it('rejects a header length over the limit and one that runs past the frame', () => {
    const lie = frame.slice();
    new DataView(lie.buffer).setUint32(5, PROTOCOL_LIMITS.maxHeaderBytes + 1, true);
    expect(errorName(() => decodeFrame(lie, gossip))).toBe('LimitExceededError');
    new DataView(lie.buffer).setUint32(5, frame.length, true);
    expect(errorName(() => decodeFrame(lie, gossip))).toBe('TruncatedFrameError');
    expect(errorName(() => decodeFrame(frame, { ...gossip, limits: { maxHeaderBytes: 64 } }))).toBe(
      'LimitExceededError',
    );
  });

  it('rejects headers that are not UTF-8 JSON or break the schema', () => {
    const cases: string[] = [
      'not json',
      JSON.stringify([header.message]),
      JSON.stringify({ message: header.message }),
      JSON.stringify({ ...header, extra: 1 }),
      JSON.stringify({ ...header, message: { ...header.message, version: PROTOCOL_VERSION + 1 } }),
      JSON.stringify({ ...header, message: { ...header.message, round: -1 } }),
      JSON.stringify({ ...header, message: { ...header.message, baseRound: 4 } }), // after its round (3)
      JSON.stringify({ ...header, message: { ...header.message, type: 'delta-announce-v2' } }),
      JSON.stringify({ ...header, tensors: [{ ...header.tensors[0], dtype: 'f8' }] }),
      JSON.stringify({ ...header, tensors: [{ ...header.tensors[0], shape: [1.5] }] }),
      JSON.stringify({ ...header, tensors: [{ ...header.tensors[0], name: '' }] }),
    ];
    for (const text of cases) {
      expect(errorName(() => decodeFrame(buildFrame(padHeader(text), payload), gossip))).toBe(
        'SchemaViolationError',
      );
    }
    const invalidUtf8 = buildFrame(padHeader('{"message":1}'));
    invalidUtf8[FRAME_PREAMBLE_BYTES + 2] = 0xff;
    expect(errorName(() => decodeFrame(invalidUtf8, gossip))).toBe('SchemaViolationError');
  });

  it('rejects hostile nesting and oversized arrays before parsing them', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const longShape = JSON.stringify({
      ...header,
      tensors: [{ dtype: 'u8', name: 'x', shape: Array(5000).fill(1) }],
    });
    const longPeers = JSON.stringify({
      ...header,
      message: { ...header.message, peers: Array(5000).fill('p') },
    });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(deep)), gossip))).toBe('SchemaViolationError');
    expect(errorName(() => decodeFrame(buildFrame(padHeader(longShape)), gossip))).toBe(
      'SchemaViolationError',
    );
    expect(errorName(() => decodeFrame(buildFrame(padHeader(longPeers)), gossip))).toBe(
      'SchemaViolationError',
    );
    const wideTable = JSON.stringify({ ...header, tensors: Array(1000).fill(header.tensors[0]) });
    expect(
      errorName(() =>
        decodeFrame(buildFrame(padHeader(wideTable)), { ...gossip, limits: { maxTensorsPerFrame: 999 } }),
      ),
    ).toBe('LimitExceededError');
  });

  it('rejects a tensor named twice', () => {
    const tensors = [header.tensors[0], header.tensors[0]];
    const text = JSON.stringify({ message: header.message, tensors });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(text), payload), gossip))).toBe(
      'SchemaViolationError',
    );
  });

  it('rejects frames of another job', () => {
    expect(errorName(() => decodeFrame(frame, { ...gossip, jobId: 'job-2' }))).toBe('WrongJobError');
  });

  it('rejects every encoding but the canonical one', () => {
    const pretty = JSON.stringify(header, null, 1);
    const reordered = JSON.stringify({ tensors: header.tensors, message: header.message });
    const unsorted = JSON.stringify({ ...header, tensors: [...header.tensors].reverse() });
    for (const text of [
      padHeader(pretty),
      padHeader(reordered),
      padHeader(unsorted),
      headerText + ' '.repeat(8),
    ]) {
      expect(errorName(() => decodeFrame(buildFrame(text, payload), gossip))).toBe('NonCanonicalError');
    }
    // Defaults left out of a manifest are valid input for zod but not the canonical header.
    const manifest = fc.sample(jobManifest, { numRuns: 1, seed: 3 })[0]!;
    const { headerText: full } = splitFrame(encodeFrame(manifest));
    const parsed = JSON.parse(full) as { message: { title: string } };
    const { title: _title, ...withoutTitle } = parsed.message;
    const text = padHeader(JSON.stringify({ message: withoutTitle, tensors: [] }));
    expect(errorName(() => decodeFrame(buildFrame(text), gossip))).toBe('NonCanonicalError');
  });

  it('rejects non-zero padding between tensors', () => {
    // Tensor order: gaps (u8, 3 bytes), size, values: padding bytes 3..7 follow "gaps".
    const bad = frame.slice();
    bad[bad.length - payload.length + 5] = 1;
    expect(errorName(() => decodeFrame(bad, gossip))).toBe('NonCanonicalError');
  });

  it('rejects a payload shorter or longer than the tensor table says', () => {
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    expect(errorName(() => decodeFrame(longer, gossip))).toBe('TensorBoundsError');
    const lie = JSON.stringify({
      ...header,
      tensors: header.tensors.map((t) => (t.name === 'values' ? { ...t, shape: [2, 3] } : t)),
    });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(lie), payload), gossip))).toBe(
      'TruncatedFrameError',
    );
  });

  it('enforces rank, dimension, element, count and name limits, tightened by the caller', () => {
    const rank5 = JSON.stringify({
      ...header,
      tensors: [{ dtype: 'u8', name: 'x', shape: [1, 1, 1, 1, 1] }],
    });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(rank5), Uint8Array.of(0)), gossip))).toBe(
      'LimitExceededError',
    );
    const overflow = JSON.stringify({
      ...header,
      tensors: [{ dtype: 'u8', name: 'x', shape: [2 ** 28, 2 ** 28] }],
    });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(overflow)), gossip))).toBe('LimitExceededError');
    const longName = JSON.stringify({
      ...header,
      tensors: [{ dtype: 'u8', name: 'n'.repeat(PROTOCOL_LIMITS.maxNameLength + 1), shape: [0] }],
    });
    expect(errorName(() => decodeFrame(buildFrame(padHeader(longName)), gossip))).toBe('LimitExceededError');
    for (const limits of [{ maxTensorsPerFrame: 2 }, { maxTensorDim: 2 }, { maxTensorElements: 3 }]) {
      expect(errorName(() => decodeFrame(frame, { ...gossip, limits }))).toBe('LimitExceededError');
    }
  });

  it('rejects NaN and infinities in every float dtype', () => {
    const cases: [Tensor['dtype'], number[]][] = [
      ['f32', [0x00, 0x00, 0xc0, 0x7f]],
      ['f32', [0x00, 0x00, 0x80, 0xff]],
      ['f16', [0x00, 0x7c]],
      ['bf16', [0xc0, 0x7f]],
      ['f64', [0, 0, 0, 0, 0, 0, 0xf0, 0x7f]],
    ];
    for (const [dtype, bytes] of cases) {
      const good = { dtype, shape: [1], data: new Uint8Array(bytes.length) };
      const valid = encodeFrame(request, { t: good });
      const bad = valid.slice();
      bad.set(bytes, valid.length - bytes.length);
      expect(errorName(() => decodeFrame(bad, gossip))).toBe('NonFiniteTensorError');
      expect(errorName(() => encodeFrame(request, { t: { ...good, data: Uint8Array.from(bytes) } }))).toBe(
        'NonFiniteTensorError',
      );
    }
  });

  it('treats a meaningless maxBytes as a caller bug', () => {
    expect(() => decodeFrame(frame, { maxBytes: Number.NaN })).toThrow(RangeError);
  });
});

describe('frame encoder', () => {
  it('refuses what a decoder would reject', () => {
    expect(errorName(() => encodeFrame({ ...request, jobId: 'no spaces' }))).toBe('SchemaViolationError');
    expect(
      errorName(() => encodeFrame(request, { t: { dtype: 'f32', shape: [2], data: new Uint8Array(4) } })),
    ).toBe('TensorBoundsError');
    expect(
      errorName(() =>
        encodeFrame(request, { t: { dtype: 'u8', shape: [1, 1, 1, 1, 1], data: Uint8Array.of(0) } }),
      ),
    ).toBe('LimitExceededError');
    expect(
      errorName(() =>
        encodeFrame(request, { t: { dtype: 'q4' as Tensor['dtype'], shape: [1], data: Uint8Array.of(0) } }),
      ),
    ).toBe('SchemaViolationError');
  });

  it('fits the largest message of every list-bearing type in the header limit', () => {
    const peer = 'p'.repeat(128);
    const refs = Array.from({ length: PROTOCOL_LIMITS.maxSummaryEntries }, () => ({
      round: PROTOCOL_LIMITS.maxRound,
      peer,
      payloadSha256: sha,
    }));
    const largest: MessageInput[] = [
      {
        type: 'anti-entropy-summary',
        version: 6,
        jobId: 'j'.repeat(64),
        round: PROTOCOL_LIMITS.maxRound,
        modelSha256: sha,
        pastModels: Array.from({ length: PROTOCOL_LIMITS.maxStaleness }, (_, i) => ({
          round: PROTOCOL_LIMITS.maxRound - 1 - i,
          modelSha256: sha,
        })),
        held: [
          { count: PROTOCOL_LIMITS.maxSummaryEntries, digest: sha },
          { count: PROTOCOL_LIMITS.maxSummaryEntries, digest: sha },
        ],
        admission: { kind: 'ticket', signature: 'ff'.repeat(64) },
      },
      {
        type: 'delta-refs',
        version: 6,
        jobId: 'j'.repeat(64),
        refs: refs.map((r, i) => ({ ...r, peer: `${i}`.padStart(128, '0') })),
      },
      { type: 'delta-pull', version: 6, jobId: 'j'.repeat(64), refs },
      {
        ...fc.sample(messagesByType.heartbeat, { numRuns: 1, seed: 1 })[0]!,
        connectedPeers: Array.from({ length: PROTOCOL_LIMITS.maxPeersListed }, () => peer),
        webRtcPeers: Array.from({ length: PROTOCOL_LIMITS.maxPeersListed }, () => peer),
      },
    ];
    for (const message of largest) {
      const frame = encodeFrame(message);
      expect(decodeFrame(frame, gossip).message).toEqual(Message.parse(message));
    }
  });
});

describe('limits', () => {
  it('limitsFromManifest bounds tensors by the largest delta payload', () => {
    fc.assert(
      fc.property(jobManifest, (input) => {
        const manifest: JobManifest = Message.parse(input) as JobManifest;
        const limits = limitsFromManifest(manifest);
        const most = maxDeltaPayloadBytes(manifest.baseCheckpoint.params);
        expect(limits.maxTensorElements).toBe(Math.min(most, PROTOCOL_LIMITS.maxTensorElements));
        expect(limits.maxTensorDim).toBe(Math.min(most, PROTOCOL_LIMITS.maxTensorDim));
        expect(limits.maxGossipFrameBytes).toBe(PROTOCOL_LIMITS.maxGossipFrameBytes);
      }),
      { numRuns: 50 },
    );
  });

  it('a frame within a job limit decodes, one element more does not', () => {
    const manifest = Message.parse({
      ...fc.sample(jobManifest, { numRuns: 1, seed: 11 })[0]!,
      baseCheckpoint: { sha256: sha, bytes: 100, params: 8 },
    }) as JobManifest;
    const limits = limitsFromManifest(manifest);
    const most = maxDeltaPayloadBytes(8);
    const fits = encodeFrame(announce(), { part: tensorFromTyped('u8', [most], new Uint8Array(most)) });
    expect(Object.keys(decodeFrame(fits, { ...gossip, limits }).tensors)).toEqual(['part']);
    const over = encodeFrame(announce(), {
      part: tensorFromTyped('u8', [most + 1], new Uint8Array(most + 1)),
    });
    expect(errorName(() => decodeFrame(over, { ...gossip, limits }))).toBe('LimitExceededError');
  });

  it("a LoRA job's limits follow its adapters, and adapters beyond maxParams are refused", () => {
    const sample = fc.sample(jobManifest, { numRuns: 1, seed: 13 })[0]!;
    const model = {
      dModel: 64,
      nLayers: 3,
      nHeads: 4,
      nKvHeads: 2,
      nFeatures: 8,
      vocabSize: 300,
      ffnSize: 100,
    };
    const withLora = (lora: object, m: object = model) =>
      Message.safeParse({ ...sample, model: { seed: 1, ...m }, training: { ...sample.training, lora } });
    // factors 'ab' on k (in 64, out 2 KV heads · 16) and down (in 100, out 64): rank · (64 + 32 + 100 + 64) per layer.
    const parsed = withLora({ factors: 'ab', rank: 2, alpha: 2, targets: ['k', 'down'] });
    expect(parsed.success).toBe(true);
    const manifest = parsed.data as JobManifest;
    expect(trainableParamCount(manifest)).toBe(3 * 2 * (64 + 32 + 100 + 64));
    expect(limitsFromManifest(manifest).maxTensorElements).toBe(maxDeltaPayloadBytes(3 * 2 * 260));
    const huge = { ...model, dModel: 8192, nHeads: 64, nKvHeads: 64, ffnSize: 1 << 18, nLayers: 128 };
    const all = ['q', 'k', 'v', 'o', 'up', 'down'];
    expect(withLora({ factors: 'ab', rank: 1024, alpha: 1, targets: all }, huge).success).toBe(false);
    expect(withLora({ factors: 'b', rank: 1, alpha: 1, targets: ['q'] }, huge).success).toBe(true);
  });

  it('tightenLimits never loosens a protocol limit', () => {
    const limits = tightenLimits({ maxHeaderBytes: PROTOCOL_LIMITS.maxHeaderBytes * 2, maxTensorRank: 2 });
    expect(limits.maxHeaderBytes).toBe(PROTOCOL_LIMITS.maxHeaderBytes);
    expect(limits.maxTensorRank).toBe(2);
  });
});
