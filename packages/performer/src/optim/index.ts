export * from './adamw.js';
export * from './errors.js';
export * from './schedule.js';
