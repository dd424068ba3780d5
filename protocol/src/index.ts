export * from './constants.js';
export * from './errors.js';
export * from './frame.js';
export * from './hash.js';
export * from './messages.js';
export * from './safetensors.js';
export * from './tensor.js';
