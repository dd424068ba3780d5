/** The embedded default job: model, manifest, base checkpoint location and the default corpus. */
export * from './job.js';
export * from './synthetic-prose.js';
export * from './corpus.js';
export * from './base.js';
