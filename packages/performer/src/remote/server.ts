/**
 * The engine thread's side: receives parameters, token ids and random features, answers with the loss
 * and the gradients (transferred, not copied), and on request checks the engine against the float64
 * reference (verify.ts) so that this float64 work, too, stays off the caller's thread. `create` builds the
 * real engine from the init message, so each host decides what that takes (onnxruntime paths, a WebGPU
 * device of its own). It also generates text from given weights (decode/decoder.ts), streaming the tokens
 * back one message each, so a page that samples stays responsive.
 */
import { createDecoder } from '../decode/decoder.js';
import { GenerationUnavailableError } from '../decode/errors.js';
import { nextMacrotask } from '../decode/yield.js';
import type { GenerateResult } from '../decode/decoder.js';
import type { GradientEngine } from '../model/engine.js';
import { mergeAdapters } from '../model/lora.js';
import type { Params } from '../model/params.js';
import { ToEngine, parseMessage, type EngineInit, type EnginePort, type FromEngine } from './protocol.js';
import { verifyEngine } from './verify.js';
import { defaultFrozenSource } from '../chunk/runner.js';

type GenerateRequest = Extract<ToEngine, { type: 'generate' }>;

/**
 * The largest LoRA base a host keeps beside a resident engine, so that generate can merge the adapters into
 * it (the tab's "Try" panel). Above it a second copy of the base costs more than trying the model is worth
 * (a 135 M base is 538 MB): generation then needs the worker's slimswarm-generate.
 */
export const KEEP_BASE_BYTES = 64 << 20;

export interface ServeOptions {
  /** The largest resident LoRA base kept for generation, in bytes (KEEP_BASE_BYTES). */
  keepBaseBytes?: number;
}

export function serveEngine(
  port: EnginePort,
  create: (init: EngineInit) => Promise<GradientEngine>,
  opts: ServeOptions = {},
): void {
  const keepBaseBytes = opts.keepBaseBytes ?? KEEP_BASE_BYTES;
  let started: { init: EngineInit; engine: Promise<GradientEngine> } | null = null;
  const send = (message: FromEngine, transfer?: ArrayBuffer[]): void => port.postMessage(message, transfer);
  const fail = (id: number | null, err: unknown): void => {
    const { name, message } = err instanceof Error ? err : new Error(String(err));
    send(id === null ? { type: 'failed', name, message } : { type: 'error', id, name, message });
  };
  const ready = async (): Promise<{ init: EngineInit; engine: GradientEngine }> => {
    if (!started) throw new Error('the engine was not initialised');
    return { init: started.init, engine: await started.engine };
  };
  // One request at a time, in arrival order, as the engine itself requires.
  let queue: Promise<void> = Promise.resolve();
  // Cancels skip the queue (they must reach a running generation); a generation still queued when its
  // cancel arrives starts already aborted. One entry per generation received and not yet ended.
  const cancels = new Map<number, AbortController>();
  const generate = async (message: GenerateRequest): Promise<void> => {
    const controller = cancels.get(message.id) ?? new AbortController();
    try {
      const { init } = await ready();
      // Messages are macrotasks and a decoder's setup can run without one: let a cancel sent right after
      // the request in before starting.
      await nextMacrotask();
      if (controller.signal.aborted) {
        return send({ type: 'generated', id: message.id, reason: 'aborted', tokens: 0 });
      }
      const decoder = await createDecoder(init.config, generationWeights(init, message.params), {
        chunk: init.chunk,
        threads: init.threads,
        backend: init.backend,
        featureEpoch: message.featureEpoch,
      });
      try {
        const tokens = decoder.generate(message.prompt, { ...message.sample, signal: controller.signal });
        let index = 0;
        let result: GenerateResult;
        for (;;) {
          const next = await tokens.next();
          if (next.done) {
            result = next.value;
            break;
          }
          send({ type: 'token', id: message.id, index: index++, token: next.value });
        }
        send({ type: 'generated', id: message.id, reason: result.reason, tokens: result.tokens });
      } finally {
        await decoder.dispose();
      }
    } finally {
      cancels.delete(message.id);
    }
  };
  const handle = async (message: ToEngine): Promise<void> => {
    switch (message.type) {
      case 'init': {
        const { init } = message;
        started = { init: withoutResidentBase(init, keepBaseBytes), engine: create(init) };
        await started.engine;
        return send({ type: 'ready' });
      }
      case 'loss': {
        const { engine } = await ready();
        const loss = await engine.loss(message.params, message.tokens, message.features);
        return send({ type: 'loss', id: message.id, loss });
      }
      case 'lossAndGrad': {
        const { engine } = await ready();
        const { loss, grads } = await engine.lossAndGrad(message.params, message.tokens, message.features);
        const buffers = [...new Set(Object.values(grads).map((g) => g.buffer as ArrayBuffer))];
        return send({ type: 'lossAndGrad', id: message.id, loss, grads }, buffers);
      }
      case 'verify': {
        const { engine, init } = await ready();
        const report = await verifyEngine(engine, init.config, {
          chunk: init.chunk,
          seqLen: message.seqLen,
          tolerance: message.tolerance,
          ...(init.lora ? { lora: init.lora } : {}),
        });
        return send({ type: 'verify', id: message.id, report });
      }
      case 'generate':
        return generate(message);
      case 'cancel':
        return;
      case 'dispose':
        return (await ready()).engine.dispose();
    }
  };
  port.onMessage((data) => {
    let message: ToEngine;
    try {
      message = parseMessage(ToEngine, data);
    } catch (err) {
      fail(null, err);
      return;
    }
    if (message.type === 'cancel') {
      cancels.get(message.id)?.abort();
      return;
    }
    if (message.type === 'generate') cancels.set(message.id, new AbortController());
    queue = queue.then(() =>
      handle(message).catch((err: unknown) => fail('id' in message ? message.id : null, err)),
    );
  });
}

/**
 * What the host keeps of its init: on wasm a LoRA engine holds the frozen base resident in its own heap
 * (chunk/runner.ts), so keeping the arrays here would keep a second copy alive; other backends read them on
 * every run. A base up to `keepBaseBytes` is kept anyway, for generation. Without them `verify` refuses a
 * LoRA engine and generate throws GenerationUnavailableError.
 */
function withoutResidentBase(init: EngineInit, keepBaseBytes: number): EngineInit {
  if (!init.lora || defaultFrozenSource(init.backend) !== 'resident') return init;
  const bytes = Object.values(init.lora.frozen).reduce((sum, t) => sum + t.byteLength, 0);
  if (bytes <= keepBaseBytes) return init;
  return { ...init, lora: { lora: init.lora.lora, frozen: {} } };
}

/** The full weights a decoder needs: the given ones, or for LoRA the adapters merged into the kept base. */
function generationWeights(init: EngineInit, params: Params): Params {
  if (!init.lora) return params;
  if (Object.keys(init.lora.frozen).length === 0) {
    throw new GenerationUnavailableError(
      'this engine holds its LoRA base only inside its training session (too large to keep a second copy ' +
        'for sampling): generate with slimswarm-generate instead',
    );
  }
  return mergeAdapters(init.config, init.lora.lora, { ...init.lora.frozen, ...params });
}
