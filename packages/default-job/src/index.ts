/** The embedded default job: model, manifest, base checkpoint location and the default corpus. */
export * from './job.js';
export * from './small-job.js';
export * from './pretrain-corpus.js';
export * from './corpus.js';
