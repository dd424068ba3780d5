/**
 * The main thread's side of the engine thread: starts a worker thread that runs engine-host-thread.ts
 * and returns the GradientEngine that talks to it, for the worker's volunteer loop.
 */
import { Worker } from 'node:worker_threads';
import { RemoteEngine, type EngineInit } from '@slimswarm/performer';

/**
 * Built (dist/*.js, as installed), the thread's module is plain JavaScript. Run from the sources under tsx,
 * the thread needs the TypeScript loader first, which worker threads do not inherit: the boot file
 * registers it (tsx is a development dependency of the workspace, never needed by the installed package).
 */
const THREAD_ENTRY = import.meta.url.endsWith('.ts')
  ? './engine-host-thread-boot.mjs'
  : './engine-host-thread.js';

export async function startEngineThread(init: EngineInit): Promise<RemoteEngine> {
  const thread = new Worker(new URL(THREAD_ENTRY, import.meta.url));
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
