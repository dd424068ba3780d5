/**
 * @slimswarm/hf-import — a Hugging Face causal LM (Llama, Qwen2, GPT-2) as a slimswarm model: config.json
 * → our ModelConfig, safetensors tensors → our params, tokenizer.json → the manifest's tokenizer spec.
 * Browser-safe: weights come through the `WeightsFile` interface; `@slimswarm/hf-import/node` reads a
 * folder from disk.
 */
export * from './errors.js';
export * from './config.js';
export * from './safetensors-header.js';
export * from './weights.js';
export * from './tokenizer.js';
