/**
 * The compute worker: the SLiM gradient engine on onnxruntime-web, and nothing else. It receives
 * parameters, token ids and random features, and answers with the loss and the gradients.
 */
import { createSlimEngine, type GradientEngine } from '@slimswarm/performer';
import * as ort from 'onnxruntime-web';
import { ToCompute, parseCompute, type FromCompute } from './compute-protocol.js';

interface WorkerScope {
  postMessage(message: FromCompute, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<unknown>) => void): void;
}
const scope = self as unknown as WorkerScope;

let engine: Promise<GradientEngine> | null = null;

function fail(id: number | null, err: unknown): void {
  const { name, message } = err instanceof Error ? err : new Error(String(err));
  scope.postMessage(id === null ? { type: 'failed', name, message } : { type: 'error', id, name, message });
}

function initialised(): Promise<GradientEngine> {
  if (!engine) throw new Error('the engine was not initialised');
  return engine;
}

async function handle(message: ToCompute): Promise<void> {
  switch (message.type) {
    case 'init':
      ort.env.wasm.wasmPaths = message.ortWasmPrefix;
      engine = createSlimEngine(message.config, {
        chunk: message.chunk,
        threads: message.threads,
        backend: message.backend,
      });
      await engine;
      scope.postMessage({ type: 'ready' });
      return;
    case 'loss': {
      const loss = await (await initialised()).loss(message.params, message.tokens, message.features);
      scope.postMessage({ type: 'loss', id: message.id, loss });
      return;
    }
    case 'lossAndGrad': {
      const ready = await initialised();
      const { loss, grads } = await ready.lossAndGrad(message.params, message.tokens, message.features);
      const buffers = Object.values(grads).map((g) => g.buffer as ArrayBuffer);
      scope.postMessage({ type: 'lossAndGrad', id: message.id, loss, grads }, buffers);
      return;
    }
  }
}

scope.addEventListener('message', (e) => {
  let message: ToCompute;
  try {
    message = parseCompute(ToCompute, e.data);
  } catch (err) {
    fail(null, err);
    return;
  }
  handle(message).catch((err: unknown) => fail('id' in message ? message.id : null, err));
});
