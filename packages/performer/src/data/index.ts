// Browser-safe: the Node file source is imported from './node.js' directly.
export * from './errors.js';
export * from './hf-tokenizer.js';
export * from './load.js';
export * from './source.js';
export * from './tokenizer.js';
