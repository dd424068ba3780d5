export * from './attention.js';
export * from './engine.js';
export * from './errors.js';
export * from './layers.js';
export * from './model.js';
