/** Node-only parts of @slimswarm/performer: checkpoint files written atomically, and file text sources. */
export * from './checkpoint/node.js';
export * from './data/node.js';
