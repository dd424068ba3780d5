/**
 * Messages between the training worker and the compute worker that runs the gradient engine. The engine
 * sits in a worker of its own because onnxruntime's wasm runs block the thread they run on for the
 * whole step: on the training worker they would starve libp2p (pings unanswered, connections dropped).
 */
import { ModelConfig } from '@slimswarm/protocol';
import { z } from 'zod';
import { InvalidWorkerMessageError } from './errors.js';

const Floats = z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected a Float32Array');
const Ints = z.custom<Int32Array>((v) => v instanceof Int32Array, 'expected an Int32Array');
const Params = z.record(z.string(), Floats);
const Features = z.array(z.object({ omega: Floats, keyStabiliser: z.number().finite() }).strict());
const Id = z.number().int().min(0);

export const ToCompute = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('init'),
      config: ModelConfig,
      chunk: z.number().int().min(1),
      threads: z.number().int().min(1),
      backend: z.enum(['wasm', 'webgpu']),
      ortWasmPrefix: z.url(),
    })
    .strict(),
  z
    .object({ type: z.literal('lossAndGrad'), id: Id, params: Params, tokens: Ints, features: Features })
    .strict(),
  z.object({ type: z.literal('loss'), id: Id, params: Params, tokens: Ints, features: Features }).strict(),
]);
export type ToCompute = z.infer<typeof ToCompute>;

export const FromCompute = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('loss'), id: Id, loss: z.number() }).strict(),
  z.object({ type: z.literal('lossAndGrad'), id: Id, loss: z.number(), grads: Params }).strict(),
  z.object({ type: z.literal('error'), id: Id, name: z.string(), message: z.string() }).strict(),
  /** A failure that answers no request (initialisation, an unreadable message): the engine is unusable. */
  z.object({ type: z.literal('failed'), name: z.string(), message: z.string() }).strict(),
]);
export type FromCompute = z.infer<typeof FromCompute>;

export function parseCompute<T extends z.ZodType>(schema: T, data: unknown): z.output<T> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new InvalidWorkerMessageError(z.prettifyError(parsed.error));
  return parsed.data;
}
