/**
 * The worker thread that runs the SLiM engine for `slimswarm-worker`, so that onnxruntime's blocking wasm
 * runs never stall libp2p on the main thread (see @slimswarm/performer's remote engine).
 */
import { parentPort } from 'node:worker_threads';
import { createSlimEngine, serveEngine } from '@slimswarm/performer';

const port = parentPort!;
serveEngine(
  {
    postMessage: (message, transfer) => port.postMessage(message, transfer),
    onMessage: (listener) => port.on('message', listener),
  },
  (init) => createSlimEngine(init.config, { chunk: init.chunk, threads: init.threads, backend: 'wasm' }),
);
