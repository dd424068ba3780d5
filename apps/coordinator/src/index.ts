/** The coordinator as a library: what launchers and tests reuse. */
export { startCoordinator, type Coordinator } from './coordinator.js';
export { parseCoordinatorArgs, CoordinatorOptions, InvalidOptionError } from './options.js';
export { CoordinatorEvent, CoordinatorStats } from './events.js';
export { loadJob, BaseCheckpointError, InvalidManifestError, type LoadJobOptions } from './published-job.js';
export { loadJobKey, loadOrCreateJobKey, ephemeralJobKey, JobKeyFileError, type JobKey } from './job-key.js';
export { InviteCodes, InviteCodesError, answerTicketRequest } from './tickets.js';
export { issueTicketFromCli, parseTicketArgs } from './ticket-cli.js';
export { startHttp, ISOLATION_HEADERS, resolveInside } from './http.js';
