/**
 * The compute worker (compute-worker.ts) on onnxruntime-web's wasm-only build: SIMD and threads, no
 * WebGPU; its binary is half the size of the WebGPU build's. The performer's own imports of
 * 'onnxruntime-web' resolve to this build too in this worker's bundle (vite.config.ts).
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import { env } from 'onnxruntime-web/wasm';
import mjs from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import { serveComputeWorker } from './compute-worker.js';

serveComputeWorker(env, { mjs, wasm });
