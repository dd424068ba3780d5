/** slimswarm-worker as a library: what the local launcher and tests reuse. */
export { main, runWorker } from './worker.js';
export { parseWorkerArgs, WorkerOptions } from './options.js';
export { resolveDataFiles } from './data.js';
export { HELD_OUT_SEQUENCES, heldOutSequences, trainingSequences, filesSource } from './sequences.js';
export * from './errors.js';
