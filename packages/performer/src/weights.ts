/**
 * @slimswarm/performer/weights — the model's weights without its engine: parameter names and shapes, and
 * the base checkpoint's bytes. Nothing here reaches onnxruntime, so a process that runs no model (the
 * coordinator, importing a job author's weights) can use it.
 *
 * The base checkpoint as the swarm publishes it: the weights alone, as canonical safetensors under their
 * parameter names and shapes, no metadata. Its SHA-256 is then exactly the swarm's model hash of those
 * weights, so the manifest, the coordinator's file and every replica agree on one number.
 */
import { encodeSafetensors, f32Tensor } from '@slimswarm/protocol';
import { paramShapes, type Params } from './model/params.js';
import type { ModelConfig } from './model/config.js';

export { paramShapes, paramCount, type Params } from './model/params.js';
export { dimsOf, type Dims, ModelConfig } from './model/config.js';
/** The seeded generator of parameter init, for tools that make weights (test fixtures) without the engine. */
export { Rng } from './model/random.js';

export function encodeBaseWeights(config: ModelConfig, params: Params): Uint8Array {
  const shapes = paramShapes(config);
  return encodeSafetensors(
    Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, f32Tensor(shape, params[name]!)]),
    ),
  );
}
