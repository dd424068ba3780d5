/**
 * The compute worker: the SLiM gradient engine on onnxruntime-web behind performer's `serveEngine`, and
 * nothing else, so that onnxruntime's blocking runs never stall the page's network. `serveEngine` also
 * answers the page's WebGPU probe here (a float64 reference step beside the engine's, compared).
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import { createSlimEngine, serveEngine } from '@slimswarm/performer';
import * as ort from 'onnxruntime-web';

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<unknown>) => void): void;
}
const scope = self as unknown as WorkerScope;

serveEngine(
  {
    postMessage: (message, transfer) => scope.postMessage(message, transfer ?? []),
    onMessage: (listener) => scope.addEventListener('message', (e) => listener(e.data)),
  },
  (init) => {
    if (init.wasmPaths !== undefined) ort.env.wasm.wasmPaths = init.wasmPaths;
    const options = { chunk: init.chunk, threads: init.threads, backend: init.backend };
    return createSlimEngine(init.config, options, init.lora);
  },
);
