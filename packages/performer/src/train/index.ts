export * from './errors.js';
export * from './trainer.js';
