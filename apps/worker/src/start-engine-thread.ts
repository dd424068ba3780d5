/**
 * The main thread's side of the engine thread: starts a worker thread that runs engine-host-thread.ts
 * and returns the GradientEngine that talks to it, for the worker's volunteer loop.
 */
import { Worker } from 'node:worker_threads';
import { RemoteEngine, type EngineInit } from '@slimswarm/performer';

export async function startEngineThread(init: EngineInit): Promise<RemoteEngine> {
  const thread = new Worker(new URL('./engine-host-thread-boot.mjs', import.meta.url));
  return RemoteEngine.connect(
    {
      postMessage: (message, transfer) => thread.postMessage(message, transfer),
      onMessage: (listener) => thread.on('message', listener),
      onError: (listener) => thread.on('error', listener),
      terminate: () => thread.terminate(),
    },
    init,
    // The thread is the frozen base's only user: move it there rather than hold a copy on each side.
    { transferFrozen: true },
  );
}
