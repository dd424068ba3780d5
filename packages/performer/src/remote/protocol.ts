/**
 * Messages between a RemoteEngine (client.ts) and the thread or Web Worker that runs the real engine
 * (server.ts). The engine gets a thread of its own because onnxruntime's wasm runs block the thread they
 * run on for the whole step: beside libp2p they starve it (pings unanswered, connections dropped).
 */
import { LoraConfig, ModelConfig } from '@slimswarm/protocol';
import { z } from 'zod';
import { SampleOptions } from '../decode/sample.js';

const Floats = z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected a Float32Array');
const Ints = z.custom<Int32Array>((v) => v instanceof Int32Array, 'expected an Int32Array');
const Params = z.record(z.string(), Floats);
const Features = z.array(z.object({ omega: Floats, keyStabiliser: z.number().finite() }).strict());
const Id = z.number().int().min(0);

export const EngineInit = z
  .object({
    config: ModelConfig,
    chunk: z.number().int().min(1),
    threads: z.number().int().min(1).max(64),
    backend: z.enum(['wasm', 'webgpu']),
    /** Where onnxruntime-web finds its .wasm files (browsers serving them from their own origin). */
    wasmPaths: z.string().optional(),
    /** A LoRA job's adapters and frozen tensors (createSlimEngine's third argument). */
    lora: z.object({ lora: LoraConfig, frozen: Params }).strict().optional(),
  })
  .strict();
export type EngineInit = z.infer<typeof EngineInit>;

/** Null where the engine produced no finite number (garbage: NaN or ±∞ do not pass as numbers). */
const Measure = z.number().nullable();

/** How one probe gradient step of the engine compared with the float64 reference (verify.ts). */
export const VerifyReport = z
  .object({
    /** Loss and every gradient tensor within the tolerance. */
    ok: z.boolean(),
    /** Token ids in the probe sequence (L + 1). */
    tokens: z.number().int().min(2),
    loss: Measure,
    referenceLoss: z.number(),
    /** |loss − reference| / max(1, |reference|). */
    lossError: Measure,
    /** The tensor with the largest relative gradient error, and that error (chunk/compare.ts). */
    worstTensor: z.string(),
    gradError: Measure,
  })
  .strict();
export type VerifyReport = z.infer<typeof VerifyReport>;

export const ToEngine = z.discriminatedUnion('type', [
  z.object({ type: z.literal('init'), init: EngineInit }).strict(),
  z
    .object({ type: z.literal('lossAndGrad'), id: Id, params: Params, tokens: Ints, features: Features })
    .strict(),
  z.object({ type: z.literal('loss'), id: Id, params: Params, tokens: Ints, features: Features }).strict(),
  /** Compare one gradient step with the naive reference, on the engine's side (verify.ts). */
  z
    .object({
      type: z.literal('verify'),
      id: Id,
      seqLen: z.number().int().min(1),
      tolerance: z.number().finite().positive(),
    })
    .strict(),
  /**
   * Generate from these weights (random features of `featureEpoch`), streaming each token back as a
   * `token` message and ending with `generated` (or `error`). Runs in turn with the other requests.
   */
  z
    .object({
      type: z.literal('generate'),
      id: Id,
      params: Params,
      prompt: Ints,
      featureEpoch: z.number().int().min(0),
      sample: SampleOptions,
    })
    .strict(),
  /** Stop generation `id` (running or still queued); it ends with `generated`, reason 'aborted'. */
  z.object({ type: z.literal('cancel'), id: Id }).strict(),
  z.object({ type: z.literal('dispose') }).strict(),
]);
export type ToEngine = z.infer<typeof ToEngine>;

export const FromEngine = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('loss'), id: Id, loss: z.number() }).strict(),
  z.object({ type: z.literal('lossAndGrad'), id: Id, loss: z.number(), grads: Params }).strict(),
  z.object({ type: z.literal('verify'), id: Id, report: VerifyReport }).strict(),
  /** The `index`-th generated token of generation `id`. */
  z
    .object({
      type: z.literal('token'),
      id: Id,
      index: z.number().int().min(0),
      token: z.number().int().min(0),
    })
    .strict(),
  /** Generation `id` ended after `tokens` tokens. */
  z
    .object({
      type: z.literal('generated'),
      id: Id,
      reason: z.enum(['maxTokens', 'stopToken', 'aborted']),
      tokens: z.number().int().min(0),
    })
    .strict(),
  z.object({ type: z.literal('error'), id: Id, name: z.string(), message: z.string() }).strict(),
  /** A failure that answers no request (initialisation, an unreadable message): the engine is unusable. */
  z.object({ type: z.literal('failed'), name: z.string(), message: z.string() }).strict(),
]);
export type FromEngine = z.infer<typeof FromEngine>;

/** The other side sent something that is not a message of this protocol, or reported a failure. */
export class RemoteEngineError extends Error {
  static override name = 'RemoteEngineError';
  override name = 'RemoteEngineError';
}

/** The engine's probe step disagrees with the float64 reference: it must not train. */
export class EngineMismatchError extends Error {
  static override name = 'EngineMismatchError';
  override name = 'EngineMismatchError';
}

/** The engine did not answer within the time the caller allowed; it is treated as stuck. */
export class EngineTimeoutError extends Error {
  static override name = 'EngineTimeoutError';
  override name = 'EngineTimeoutError';
}

export function parseMessage<T extends z.ZodType>(schema: T, data: unknown): z.output<T> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new RemoteEngineError(`bad engine message: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The two ends of a Worker / worker_threads channel, reduced to what both need. */
export interface EnginePort {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onMessage(listener: (data: unknown) => void): void;
}
