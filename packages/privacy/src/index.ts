export * from './accountant.js';
export * from './conversion.js';
export * from './errors.js';
export * from './rdp.js';
export * from './scrub.js';
export * from './calibrate.js';
