/**
 * The compute worker (compute-worker.ts) on onnxruntime-web's main build, whose binary (JSEP) runs both
 * the WebGPU and the wasm execution providers: started only where the browser offers a WebGPU adapter.
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import { env } from 'onnxruntime-web';
import mjs from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs?url';
import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { serveComputeWorker } from './compute-worker.js';

serveComputeWorker(env, { mjs, wasm });
