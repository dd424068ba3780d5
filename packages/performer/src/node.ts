/**
 * Node-only parts of @slimswarm/performer: checkpoint files written atomically, file text sources, and
 * exported model folders.
 */
export * from './checkpoint/node.js';
export * from './data/node.js';
export * from './export/node.js';
