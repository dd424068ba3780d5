/** The local launcher as a library: child processes that speak JSON lines, and a whole swarm on loopback. */
export * from './processes.js';
export * from './local-swarm.js';
