/**
 * @slimswarm/performer/weights — the model's weights without its engine: parameter names and shapes, and
 * the base checkpoint's bytes. Nothing here reaches onnxruntime, so a process that runs no model (the
 * coordinator, importing a job author's weights) can use it.
 *
 * The base checkpoint as the swarm publishes it: the weights alone, as canonical safetensors under their
 * parameter names and shapes, no metadata. Its SHA-256 is then exactly the swarm's model hash of those
 * weights, so the manifest, the coordinator's file and every replica agree on one number.
 */
import { TensorBoundsError, layoutSafetensors } from '@slimswarm/protocol';
import { paramShapes, type Params } from './model/params.js';
import type { ModelConfig } from './model/config.js';

export { paramShapes, paramCount, type Params } from './model/params.js';
export { dimsOf, type Dims, ModelConfig } from './model/config.js';
/** The seeded generator of parameter init, for tools that make weights (test fixtures) without the engine. */
export { Rng } from './model/random.js';

/**
 * The base checkpoint's bytes with every parameter still zero, and the parameters as views into them:
 * whoever fills the params (an importer converting a model folder) fills the file, with no second copy.
 */
export function allocateBaseWeights(config: ModelConfig): { bytes: Uint8Array; params: Params } {
  const shapes = paramShapes(config);
  const { bytes, offsets } = layoutSafetensors(
    Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, { dtype: 'f32' as const, shape }]),
    ),
  );
  // Every tensor is f32 and the data starts 8-byte aligned, so each offset is a multiple of 4.
  const params: Params = Object.fromEntries(
    [...offsets].map(([name, at]) => [
      name,
      new Float32Array(
        bytes.buffer,
        bytes.byteOffset + at,
        shapes[name]!.reduce((a, b) => a * b, 1),
      ),
    ]),
  );
  return { bytes, params };
}

export function encodeBaseWeights(config: ModelConfig, params: Params): Uint8Array {
  const base = allocateBaseWeights(config);
  for (const [name, view] of Object.entries(base.params)) {
    const values = params[name];
    if (values?.length !== view.length) {
      throw new TensorBoundsError(
        `param ${name} has ${values?.length ?? 0} values, its shape needs ${view.length}`,
      );
    }
    view.set(values);
  }
  return base.bytes;
}
