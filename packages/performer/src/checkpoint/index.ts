// Browser-safe: the Node file functions are imported from './node.js' directly.
export * from './checkpoint.js';
export * from './errors.js';
