export * from './adamw.js';
export * from './errors.js';
