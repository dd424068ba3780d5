/** The coordinator as a library: what launchers and tests reuse. */
export { startCoordinator, type Coordinator } from './coordinator.js';
export { parseCoordinatorArgs, CoordinatorOptions, InvalidOptionError } from './options.js';
export { CoordinatorEvent, CoordinatorStats } from './events.js';
export { loadJob, BaseCheckpointError, InvalidManifestError } from './published-job.js';
export { startHttp, ISOLATION_HEADERS, resolveInside } from './http.js';
