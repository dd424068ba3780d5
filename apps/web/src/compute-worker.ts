/**
 * The compute worker: the SLiM gradient engine on onnxruntime-web behind performer's `serveEngine`, and
 * nothing else, so that onnxruntime's blocking runs never stall the page's network. `serveEngine` also
 * answers the page's WebGPU probe here (a float64 reference step beside the engine's, compared).
 *
 * Two entry files start it, one per onnxruntime-web build (compute-worker-wasm.ts, -webgpu.ts): the page
 * starts the one its backend needs, so a tab without WebGPU never downloads the WebGPU (JSEP) binary.
 */
import { createSlimEngine, serveEngine } from '@slimswarm/performer';
import type { Env } from 'onnxruntime-web';

/** The URLs of the build's Emscripten glue and wasm binary, as the entry's bundle names them. */
export interface OrtFiles {
  mjs: string;
  wasm: string;
}

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<unknown>) => void): void;
}

/**
 * Serves the engine with the onnxruntime-web whose `env` the entry passes (the one performer's modules
 * import in that worker's bundle), loading exactly `files`: content-hashed assets of our own build,
 * served by the coordinator, so the page's `wasmPaths` (EngineInit) is not needed and not read.
 */
export function serveComputeWorker(env: Env, files: OrtFiles): void {
  const scope = self as unknown as WorkerScope;
  serveEngine(
    {
      postMessage: (message, transfer) => scope.postMessage(message, transfer ?? []),
      onMessage: (listener) => scope.addEventListener('message', (e) => listener(e.data)),
    },
    (init) => {
      // Absolute, as onnxruntime asks: the dev server names files by path alone.
      const absolute = (url: string) => new URL(url, self.location.href).href;
      env.wasm.wasmPaths = { mjs: absolute(files.mjs), wasm: absolute(files.wasm) };
      const options = { chunk: init.chunk, threads: init.threads, backend: init.backend };
      return createSlimEngine(init.config, options, init.lora);
    },
  );
}
