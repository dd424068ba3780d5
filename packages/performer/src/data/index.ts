// Browser-safe: the Node file source is imported from './node.js' directly.
export * from './errors.js';
export * from './source.js';
export * from './tokenizer.js';
