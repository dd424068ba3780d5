/**
 * The engine thread's side: receives parameters, token ids and random features, answers with the loss
 * and the gradients (transferred, not copied), and on request checks the engine against the float64
 * reference (verify.ts) so that this float64 work, too, stays off the caller's thread. `create` builds the real engine from the init message, so
 * each host decides what that takes (onnxruntime paths, a WebGPU device of its own).
 */
import type { GradientEngine } from '../model/engine.js';
import { ToEngine, parseMessage, type EngineInit, type EnginePort, type FromEngine } from './protocol.js';
import { verifyEngine } from './verify.js';

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
  const handle = async (message: ToEngine): Promise<void> => {
    switch (message.type) {
      case 'init':
        started = { init: message.init, engine: create(message.init) };
        await started.engine;
        return send({ type: 'ready' });
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
        });
        return send({ type: 'verify', id: message.id, report });
      }
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
    queue = queue.then(() =>
      handle(message).catch((err: unknown) => fail('id' in message ? message.id : null, err)),
    );
  });
}
