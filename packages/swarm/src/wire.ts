/**
 * The byte forms the swarm exchanges, all built from @slimswarm/protocol primitives: the model hash and
 * the delta payload. Each is canonical safetensors, so equal content hashes equally on every peer.
 */
import { decodeSafetensors, encodeSafetensors, f32Tensor, sha256Hex } from '@slimswarm/protocol';
import type { CodecTensors } from './codec.js';
import { DeltaDecodeError } from './errors.js';
import type { ModelLayout } from './model-layout.js';

export { sha256Hex };

/** Named f32 tensors of a flat vector, in the layout's shapes. */
function tensorsOf(layout: ModelLayout, flat: Float32Array, prefix = ''): CodecTensors {
  const out: CodecTensors = {};
  for (const t of layout.tensors)
    out[prefix + t.name] = f32Tensor(t.shape, flat.subarray(t.offset, t.offset + t.size));
  return out;
}

/**
 * The model hash: SHA-256 of the canonical safetensors of the weights under their own names, no metadata.
 * A function of the weights only, so every peer (and a checkpoint written the same way) agrees on it.
 */
export function modelSha256(layout: ModelLayout, weights: Float32Array): string {
  return sha256Hex(encodeSafetensors(tensorsOf(layout, weights)));
}

/** `parts` one after the other in one buffer of `total` bytes (a delta payload from its gossip parts). */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function encodeDeltaPayload(tensors: CodecTensors): Uint8Array {
  return encodeSafetensors(tensors);
}

/** Throws protocol errors (bad container, NaN/Inf in float tensors) or DeltaDecodeError. */
export function decodeDeltaPayload(bytes: Uint8Array): CodecTensors {
  const { tensors, metadata } = decodeSafetensors(bytes, { maxBytes: bytes.length });
  if (Object.keys(metadata).length > 0) throw new DeltaDecodeError('delta payloads carry no metadata');
  return tensors;
}
