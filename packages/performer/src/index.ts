/**
 * @slimswarm/performer — a causal FAVOR+ Performer language model whose exact gradient step needs memory
 * that does not grow with sequence length (SLiM), on onnxruntime-web, with its naive reference twin.
 * Browser-safe; Node-only helpers (checkpoint files, file sources) live in `@slimswarm/performer/node`.
 */
export * from './model/config.js';
export * from './model/random.js';
export * from './model/params.js';
export * from './model/lora.js';
export * from './model/features.js';
export * from './model/engine.js';
export * from './model/inputs.js';
export * from './naive/index.js';
export * from './chunk/index.js';
export * from './decode/index.js';
export * from './export/index.js';
export * from './optim/index.js';
export * from './checkpoint/index.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './remote/index.js';
export * from './softmax/index.js';
