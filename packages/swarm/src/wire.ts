/**
 * The byte forms the swarm exchanges, all built from @slimswarm/protocol primitives: the model hash, the
 * delta payload and the weight-sync state. Each is canonical safetensors, so equal content hashes equally
 * on every peer.
 */
import {
  PastModels,
  canonicalJson,
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  sha256Hex,
  tensorToF32,
} from '@slimswarm/protocol';
import type { CodecTensors } from './codec.js';
import { DeltaDecodeError, ModelLayoutError } from './errors.js';
import { ModelLayout } from './model-layout.js';

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

const WEIGHT_PREFIX = 'model/';
const MOMENTUM_PREFIX = 'outer_momentum/';

export interface ModelState {
  layout: ModelLayout;
  weights: Float32Array;
  momentum: Float32Array;
  round: number;
  /** The models of the rounds before `round` that deltas may still be based on. */
  pastModels: PastModels;
}

/**
 * Weight-sync body: the weights and the outer momentum (P each), with the round and the past models'
 * hashes as metadata.
 */
export function encodeModelState(layout: ModelLayout, state: Omit<ModelState, 'layout'>): Uint8Array {
  return encodeSafetensors(
    {
      ...tensorsOf(layout, state.weights, WEIGHT_PREFIX),
      ...tensorsOf(layout, state.momentum, MOMENTUM_PREFIX),
    },
    { round: String(state.round), pastModels: canonicalJson(state.pastModels) },
  );
}

/**
 * Parses a weight-sync body. Without `layout` the layout is taken from the body itself (a peer joining
 * by sync knows no shapes yet); the caller checks the resulting model hash against what it asked for.
 */
export function decodeModelState(bytes: Uint8Array, maxBytes: number, layout?: ModelLayout): ModelState {
  const { tensors, metadata } = decodeSafetensors(bytes, { maxBytes });
  const weights: Record<string, Float32Array> = {};
  const momentum: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith(WEIGHT_PREFIX)) {
      weights[name.slice(WEIGHT_PREFIX.length)] = tensorToF32(t);
      shapes[name.slice(WEIGHT_PREFIX.length)] = t.shape;
    } else if (name.startsWith(MOMENTUM_PREFIX))
      momentum[name.slice(MOMENTUM_PREFIX.length)] = tensorToF32(t);
    else throw new ModelLayoutError(`unexpected tensor ${name} in a weight-sync body`);
  }
  const round = Number(metadata.round);
  if (!Number.isSafeInteger(round) || round < 0)
    throw new ModelLayoutError('weight-sync body lacks a valid round');
  const pastModels = PastModels.safeParse(parseJson(metadata.pastModels));
  if (!pastModels.success) throw new ModelLayoutError('weight-sync body lacks valid pastModels');
  const l = layout ?? new ModelLayout(shapes);
  return {
    layout: l,
    weights: l.flatten(weights),
    momentum: l.flatten(momentum),
    round,
    pastModels: pastModels.data,
  };
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
