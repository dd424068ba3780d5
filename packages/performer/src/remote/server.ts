/**
 * The engine thread's side: receives parameters, token ids and random features, answers with the loss
 * and the gradients (transferred, not copied), and on request checks the engine against the float64
 * reference (verify.ts) so that this float64 work, too, stays off the caller's thread. `create` builds the
 * real engine from the init message, so each host decides what that takes (onnxruntime paths, a WebGPU
 * device of its own). It also generates text from given weights (decode/decoder.ts), streaming the tokens
 * back one message each, so a page that samples stays responsive.
 */
import { createDecoder } from '../decode/decoder.js';
import { nextMacrotask } from '../decode/yield.js';
import type { GenerateResult } from '../decode/decoder.js';
import type { GradientEngine } from '../model/engine.js';
import { ToEngine, parseMessage, type EngineInit, type EnginePort, type FromEngine } from './protocol.js';
import { verifyEngine } from './verify.js';
import { defaultFrozenSource } from '../chunk/runner.js';

type GenerateRequest = Extract<ToEngine, { type: 'generate' }>;

export function serveEngine(port: EnginePort, create: (init: EngineInit) => Promise<GradientEngine>): void {
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
      const decoder = await createDecoder(init.config, message.params, {
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
        started = { init: withoutResidentBase(init), engine: create(init) };
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
 * (chunk/runner.ts), so keeping the arrays here would keep a second copy (538 MB for a 135 M base) alive
 * for nothing; other backends read them on every run. Without them `verify` refuses a LoRA engine.
 */
function withoutResidentBase(init: EngineInit): EngineInit {
  if (!init.lora || defaultFrozenSource(init.backend) !== 'resident') return init;
  return { ...init, lora: { lora: init.lora.lora, frozen: {} } };
}
