/** @slimswarm/client — the volunteer loop, written once for the Node worker and the browser tab. */
export * from './events.js';
export * from './fetch-job.js';
export * from './job-pin.js';
export * from './admission.js';
export * from './store.js';
export * from './volunteer.js';
export * from './connect.js';
export * from './session.js';
export type { JobEntryOptions } from './entry.js';
export * from './fetch-model.js';
export { DEFAULT_JOIN_TIMEOUT_MS } from './join.js';
export { RoundThroughput } from './throughput.js';
export * from './model-file.js';
export * from './job-model.js';
export * from './local-text.js';
export * from './scrub-source.js';
export { describeScrubCounts } from './scrub-note.js';
