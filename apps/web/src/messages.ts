/**
 * Messages between the page and its training worker. Both sides validate what they receive: the worker
 * boundary is a structured-clone channel, and a stale worker script from a cached older page must fail
 * loudly rather than half-work.
 */
import { VolunteerEvent } from '@slimswarm/client';
import { z } from 'zod';
import { InvalidWorkerMessageError } from './errors.js';

export const ToWorker = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('start'),
      /** Origin of the coordinator (the page's own origin in production). */
      coordinator: z.url(),
      /** Where onnxruntime-web's wasm files are served (our origin, never a CDN). */
      ortWasmPrefix: z.url(),
    })
    .strict(),
  z.object({ type: z.literal('pause') }).strict(),
  z.object({ type: z.literal('resume') }).strict(),
  z.object({ type: z.literal('stop') }).strict(),
]);
export type ToWorker = z.infer<typeof ToWorker>;

export const TabState = z.enum(['idle', 'joining', 'training', 'paused', 'stopped', 'failed']);
export type TabState = z.infer<typeof TabState>;

export const ComputeBackend = z
  .object({
    backend: z.enum(['wasm', 'webgpu']),
    threads: z.number().int().min(1),
    crossOriginIsolated: z.boolean(),
    /** Why the preferred backend (WebGPU) could not start, when it could not. */
    fallbackReason: z.string().nullable(),
  })
  .strict();
export type ComputeBackend = z.infer<typeof ComputeBackend>;

export const FromWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('state'), state: TabState }).strict(),
  z.object({ type: z.literal('backend'), compute: ComputeBackend }).strict(),
  z.object({ type: z.literal('volunteer'), event: VolunteerEvent }).strict(),
  /** Live peer count, more often than round events. */
  z.object({ type: z.literal('network'), peers: z.number().int().min(0) }).strict(),
]);
export type FromWorker = z.infer<typeof FromWorker>;

export function parseMessage<T extends z.ZodType>(schema: T, data: unknown): z.output<T> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new InvalidWorkerMessageError(z.prettifyError(parsed.error));
  return parsed.data;
}
