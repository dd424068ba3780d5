/**
 * Runs inside the engine's worker thread (started by start-engine-thread.ts): the SLiM engine behind
 * performer's serveEngine, so that onnxruntime's blocking wasm runs never stall libp2p on the main
 * thread. Loaded through engine-host-thread-boot.mjs, which gives the thread the TypeScript loader.
 */
import { parentPort } from 'node:worker_threads';
import { createSlimEngine, serveEngine } from '@slimswarm/performer';

const port = parentPort!;
serveEngine(
  {
    postMessage: (message, transfer) => port.postMessage(message, transfer),
    onMessage: (listener) => port.on('message', listener),
  },
  (init) =>
    createSlimEngine(init.config, { chunk: init.chunk, threads: init.threads, backend: 'wasm' }, init.lora),
);
