/** A GradientEngine on a worker thread of its own (engine-thread.ts), for the worker's main loop. */
import { Worker } from 'node:worker_threads';
import { RemoteEngine, type EngineInit } from '@slimswarm/performer';

export async function createThreadEngine(init: EngineInit): Promise<RemoteEngine> {
  const thread = new Worker(new URL('./engine-thread-boot.mjs', import.meta.url));
  return RemoteEngine.connect(
    {
      postMessage: (message, transfer) => thread.postMessage(message, transfer),
      onMessage: (listener) => thread.on('message', listener),
      onError: (listener) => thread.on('error', listener),
      terminate: () => thread.terminate(),
    },
    init,
  );
}
