export * from './attention.js';
export * from './engine.js';
export * from './layers.js';
export * from './model.js';
export * from './decode.js';
export * from './softmax.js';
export * from './lora.js';
