/**
 * Runs inside the engine's worker thread (started by start-engine-thread.ts): the SLiM engine behind
 * performer's serveEngine, so that onnxruntime's blocking wasm runs never stall libp2p on the main
 * thread. Run from the sources, it is loaded through engine-host-thread-boot.mjs, which gives the thread
 * the TypeScript loader; built, it is the thread's entry itself.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { createSlimEngine, serveEngine } from '@slimswarm/performer';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const port = parentPort!;
serveEngine(
  {
    postMessage: (message, transfer) => port.postMessage(message, transfer),
    onMessage: (listener) => port.on('message', listener),
  },
  async (init) => {
    const engine = await createSlimEngine(
      init.config,
      { chunk: init.chunk, threads: init.threads, backend: 'wasm' },
      init.lora,
    );
    // A LoRA base moved here (538 MB for a 135 M model) now lives in the engine's wasm heap; its JS copy
    // is garbage once the init is answered, but V8 may hold it for minutes, through the training peak.
    setTimeout(collectGarbage, 0);
    return engine;
  },
);
