/**
 * What the golden vectors in this folder hold. `generate.ts` writes the .bin and .safetensors files from
 * these definitions once; `vectors.test.ts` checks that decoding each file gives this content (or the
 * named error) and that encoding this content still gives the same bytes, so any change of the wire or
 * storage format shows up as a failing test and needs a protocol version bump.
 */
import {
  FRAME_PREAMBLE_BYTES,
  encodeFrame,
  encodeSafetensors,
  f32Tensor,
  jobIdFor,
  tensorFromTyped,
} from '../../src/index.js';
import type { MessageInput, Tensor } from '../../src/index.js';

const sha = (byte: string): string => byte.repeat(32);
/** The public key of RFC 8032's first Ed25519 test vector: any 32-byte key would do for the schema. */
const RFC8032_KEY = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

export interface FrameVector {
  file: string;
  message: MessageInput;
  tensors: Record<string, Tensor>;
}

export const validFrames: FrameVector[] = [
  {
    file: 'weight-sync-request.bin',
    message: {
      type: 'weight-sync-request',
      version: 6,
      jobId: 'tiny-shakespeare',
      modelSha256: null,
      from: { round: 0, modelSha256: sha('1e') },
    },
    tensors: {},
  },
  {
    file: 'round-record.bin',
    message: {
      type: 'round-record',
      version: 6,
      jobId: 'tiny-shakespeare',
      round: 41,
      baseModelSha256: sha('0e'),
      modelSha256: sha('0f'),
      authors: ['12D3KooWA', '12D3KooWB'],
    },
    tensors: {},
  },
  {
    file: 'weight-sync-response.bin',
    message: {
      type: 'weight-sync-response',
      version: 6,
      jobId: 'tiny-shakespeare',
      status: 'ok',
      round: 42,
      modelSha256: sha('0f'),
      records: 42,
    },
    tensors: {},
  },
  {
    file: 'heartbeat.bin',
    message: {
      type: 'heartbeat',
      version: 6,
      jobId: 'tiny-shakespeare',
      role: 'browser',
      status: 'training',
      round: 42,
      modelSha256: sha('0f'),
      step: 1337,
      tokensPerSec: 812.5,
      loss: 2.0625,
      memoryBytes: 268_435_456,
      connectedPeers: ['12D3KooWA', '12D3KooWB'],
      webRtcPeers: ['12D3KooWB'],
      bytesIn: 1000,
      bytesOut: 2000,
      sentAt: 1_764_000_000_000,
      admission: { kind: 'pow', nonce: '00000000000004d2' },
    },
    tensors: {},
  },
  {
    file: 'delta-announce-dense-f32.bin',
    message: {
      type: 'delta-announce',
      version: 6,
      jobId: 'tiny-shakespeare',
      round: 42,
      baseRound: 42,
      baseModelSha256: sha('0f'),
      stats: { tokens: 65_536, steps: 16, meanLoss: 2.25 },
      codec: 'dense-f32',
      payloadBytes: 28,
      payloadSha256: sha('a1'),
      authorSignature: '5a'.repeat(64),
      admission: { kind: 'pow', nonce: '00000000000004d2' },
      partDigests: [sha('a1')],
      part: { index: 0, count: 1 },
    },
    tensors: {
      size: tensorFromTyped('u32', [1], Uint32Array.of(4)),
      values: f32Tensor([4], Float32Array.of(0.5, -0.25, 1e-8, -3)),
    },
  },
  {
    file: 'delta-announce-topk-int8.bin',
    message: {
      type: 'delta-announce',
      version: 6,
      jobId: 'tiny-shakespeare',
      round: 43,
      baseRound: 42,
      baseModelSha256: sha('1e'),
      stats: { tokens: 65_536, steps: 16, meanLoss: 2.125 },
      codec: 'topk-int8',
      payloadBytes: 14,
      payloadSha256: sha('b2'),
      authorSignature: '5a'.repeat(64),
      admission: { kind: 'ticket', signature: '7c'.repeat(64) },
      partDigests: [sha('c1'), sha('c2'), sha('c3')],
      part: { index: 1, count: 3 },
    },
    tensors: {
      // LEB128 gaps 0, 5, 130 between the kept indices 0, 5, 135.
      index_gaps: { dtype: 'u8', shape: [4], data: Uint8Array.of(0, 5, 0x82, 0x01) },
      scales: f32Tensor([1], Float32Array.of(0.0078125)),
      size: tensorFromTyped('u32', [1], Uint32Array.of(1000)),
      values: tensorFromTyped('i8', [3], Int8Array.of(127, -64, 1)),
    },
  },
  {
    file: 'job-manifest.bin',
    // Defaults (title, ropeBase, featureRedraw, beta1, …) are left out: the frame holds them filled in.
    message: {
      type: 'job-manifest',
      version: 6,
      jobId: jobIdFor('tiny-shakespeare', RFC8032_KEY),
      jobKey: RFC8032_KEY,
      admission: { mode: 'open', difficultyBits: 20 },
      model: { dModel: 64, nLayers: 2, nHeads: 4, nFeatures: 32, vocabSize: 256, mlpRatio: 4, seed: 1234 },
      tokenizer: { kind: 'byte' },
      baseCheckpoint: { sha256: sha('0f'), bytes: 1_200_000, params: 299_520 },
      training: { seqLen: 4096, chunkSize: 256, batchSize: 4, localSteps: 16, inner: { kind: 'adamw', lr: 0.001 } },
      outer: { kind: 'nesterov', lr: 0.7, momentum: 0.9 },
      compression: { codec: 'topk-int8' },
      aggregation: { rule: 'trimmed-mean', normBound: 10, trimFraction: 0.1 },
      round: { quorumFraction: 0.6, deadlineMs: 30_000, minDeltas: 1, peerTimeoutMs: 60_000 },
    },
    tensors: {},
  },
  {
    file: 'anti-entropy-summary.bin',
    message: {
      type: 'anti-entropy-summary',
      version: 6,
      jobId: 'tiny-shakespeare',
      round: 43,
      modelSha256: sha('1e'),
      pastModels: [{ round: 42, modelSha256: sha('0f') }],
      held: [
        { count: 2, digest: sha('b2') },
        { count: 0, digest: sha('c3') },
      ],
      admission: { kind: 'ticket', signature: '7c'.repeat(64) },
    },
    tensors: {},
  },
  {
    file: 'delta-refs-request.bin',
    message: { type: 'delta-refs-request', version: 6, jobId: 'tiny-shakespeare', rounds: [43, 44] },
    tensors: {},
  },
  {
    file: 'delta-refs.bin',
    message: {
      type: 'delta-refs',
      version: 6,
      jobId: 'tiny-shakespeare',
      refs: [
        { round: 43, peer: '12D3KooWA', payloadSha256: sha('b2') },
        { round: 43, peer: '12D3KooWB', payloadSha256: sha('c3') },
      ],
    },
    tensors: {},
  },
  {
    file: 'delta-pull.bin',
    message: {
      type: 'delta-pull',
      version: 6,
      jobId: 'tiny-shakespeare',
      refs: [{ round: 43, peer: '12D3KooWB', payloadSha256: sha('c3') }],
    },
    tensors: {},
  },
  {
    file: 'equivocation-evidence.bin',
    // Two headers one author signed for round 43 (the signatures here are placeholders: the schema does
    // not verify them, every receiver does).
    message: {
      type: 'equivocation-evidence',
      version: 6,
      jobId: 'tiny-shakespeare',
      author: '12D3KooWB',
      first: {
        type: 'delta-announce',
        version: 6,
        jobId: 'tiny-shakespeare',
        round: 43,
        baseRound: 43,
        baseModelSha256: sha('1e'),
        stats: { tokens: 65_536, steps: 16, meanLoss: 2.125 },
        codec: 'topk-int8',
        payloadBytes: 14,
        payloadSha256: sha('b2'),
        authorSignature: '5a'.repeat(64),
        admission: { kind: 'pow', nonce: '00000000000004d2' },
        partDigests: [sha('b2')],
        part: { index: 0, count: 1 },
      },
      second: {
        type: 'delta-announce',
        version: 6,
        jobId: 'tiny-shakespeare',
        round: 43,
        baseRound: 43,
        baseModelSha256: sha('1e'),
        stats: { tokens: 65_536, steps: 16, meanLoss: 2.125 },
        codec: 'topk-int8',
        payloadBytes: 14,
        payloadSha256: sha('c3'),
        authorSignature: '6b'.repeat(64),
        admission: { kind: 'pow', nonce: '00000000000004d2' },
        partDigests: [sha('c3')],
        part: { index: 0, count: 1 },
      },
    },
    tensors: {},
  },
  {
    file: 'all-dtypes.bin',
    message: {
      type: 'weight-sync-request',
      version: 6,
      jobId: 'dtypes',
      modelSha256: sha('00'),
      from: { round: 0, modelSha256: sha('01') },
    },
    tensors: {
      bf16: tensorFromTyped('bf16', [2], Uint16Array.of(0x3f80, 0xc040)), // 1, -3
      f16: tensorFromTyped('f16', [2, 1], Uint16Array.of(0x3c00, 0x7bff)), // 1, 65504
      f32: f32Tensor([], Float32Array.of(Math.PI)),
      f64: tensorFromTyped('f64', [1], Float64Array.of(-Math.E)),
      i32: tensorFromTyped('i32', [2], Int32Array.of(-2, 2 ** 31 - 1)),
      i64: tensorFromTyped('i64', [1], BigInt64Array.of(-(2n ** 62n))),
      i8: tensorFromTyped('i8', [3], Int8Array.of(-128, 0, 127)),
      u32: tensorFromTyped('u32', [1, 1, 1, 1], Uint32Array.of(0xffffffff)),
      u8: tensorFromTyped('u8', [0], new Uint8Array(0)),
    },
  },
];

export interface RejectVector {
  file: string;
  /** The error decodeFrame must throw when called with `jobId` (if given) and the gossip size limit. */
  error: string;
  jobId?: string;
  description: string;
  /** Builds the bytes from the valid frames above. */
  make: (valid: (file: string) => Uint8Array) => Uint8Array;
}

function edit(bytes: Uint8Array, change: (copy: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  change(copy, new DataView(copy.buffer));
  return copy;
}

/** The frame with its header JSON rewritten, re-padded as the encoder pads, and a truthful length. */
function reframe(frame: Uint8Array, rewrite: (json: string) => string): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset);
  const headerEnd = FRAME_PREAMBLE_BYTES + view.getUint32(5, true);
  const json = rewrite(new TextDecoder().decode(frame.subarray(FRAME_PREAMBLE_BYTES, headerEnd)).trimEnd());
  const jsonBytes = new TextEncoder().encode(json);
  const header = new Uint8Array(Math.ceil((FRAME_PREAMBLE_BYTES + jsonBytes.length) / 8) * 8 - FRAME_PREAMBLE_BYTES);
  header.fill(0x20).set(jsonBytes);
  const out = new Uint8Array(FRAME_PREAMBLE_BYTES + header.length + frame.length - headerEnd);
  out.set(frame.subarray(0, FRAME_PREAMBLE_BYTES));
  new DataView(out.buffer).setUint32(5, header.length, true);
  out.set(header, FRAME_PREAMBLE_BYTES);
  out.set(frame.subarray(headerEnd), FRAME_PREAMBLE_BYTES + header.length);
  return out;
}

const dense = 'delta-announce-dense-f32.bin';

export const rejectFrames: RejectVector[] = [
  {
    file: 'reject-truncated.bin',
    error: 'TruncatedFrameError',
    description: 'the dense delta without its last byte',
    make: (valid) => valid(dense).slice(0, -1),
  },
  {
    file: 'reject-bad-magic.bin',
    error: 'BadMagicError',
    description: 'magic "SLSX"',
    make: (valid) => edit(valid(dense), (b) => (b[3] = 0x58)),
  },
  {
    file: 'reject-version-7.bin',
    error: 'UnsupportedVersionError',
    description: 'version byte 7 (newer: ignore, do not penalise)',
    make: (valid) => edit(valid(dense), (b) => (b[4] = 7)),
  },
  {
    file: 'reject-version-5.bin',
    error: 'UnsupportedVersionError',
    description: 'version byte 5 (older: reject; v5 summaries list every ref instead of a digest per round)',
    make: (valid) => edit(valid(dense), (b) => (b[4] = 5)),
  },
  {
    file: 'reject-header-length.bin',
    error: 'LimitExceededError',
    description: 'header length 0xffffffff',
    make: (valid) => edit(valid(dense), (_b, v) => v.setUint32(5, 0xffffffff, true)),
  },
  {
    file: 'reject-shape-lie.bin',
    error: 'TruncatedFrameError',
    description: 'values declared [40] with 4 values of payload',
    make: (valid) => reframe(valid(dense), (h) => h.replace('"shape":[4]', '"shape":[40]')),
  },
  {
    file: 'reject-trailing-bytes.bin',
    error: 'TensorBoundsError',
    description: 'four zero bytes after the last tensor',
    make: (valid) => {
      const frame = valid(dense);
      const out = new Uint8Array(frame.length + 4);
      out.set(frame);
      return out;
    },
  },
  {
    file: 'reject-nan.bin',
    error: 'NonFiniteTensorError',
    description: 'the last f32 value replaced by a quiet NaN',
    make: (valid) => edit(valid(dense), (b, v) => v.setUint32(b.length - 4, 0x7fc00000, true)),
  },
  {
    file: 'reject-schema.bin',
    error: 'SchemaViolationError',
    description: 'round -1',
    make: (valid) => reframe(valid(dense), (h) => h.replace('"round":42', '"round":-1')),
  },
  {
    file: 'reject-non-canonical.bin',
    error: 'NonCanonicalError',
    description: 'a space after the first colon of the header JSON',
    make: (valid) => reframe(valid(dense), (h) => h.replace('":', '": ')),
  },
  {
    file: 'reject-wrong-job.bin',
    error: 'WrongJobError',
    jobId: 'another-job',
    description: 'a valid frame decoded by a peer of another job',
    make: (valid) => valid(dense),
  },
];

export interface SafetensorsVector {
  file: string;
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export const validSafetensors: SafetensorsVector[] = [
  {
    file: 'checkpoint.safetensors',
    metadata: { format: 'slimswarm', round: '42' },
    tensors: {
      'blocks.0.attn.wq': f32Tensor([2, 2], Float32Array.of(1, 0, 0, 1)),
      'embed.weight': f32Tensor([3, 2], Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6)),
      'outer.momentum': tensorFromTyped('f16', [2], Uint16Array.of(0x3c00, 0xbc00)),
      step: tensorFromTyped('i64', [], BigInt64Array.of(42n)),
    },
  },
];

export function encodeValidFrame(vector: FrameVector): Uint8Array {
  return encodeFrame(vector.message, vector.tensors);
}

export function encodeValidSafetensors(vector: SafetensorsVector): Uint8Array {
  return encodeSafetensors(vector.tensors, vector.metadata);
}
