/**
 * The base checkpoint as the swarm publishes it: the weights alone, as canonical safetensors under their
 * parameter names and shapes, no metadata. Its SHA-256 is then exactly the swarm's model hash of those
 * weights, so the manifest, the coordinator's file and every replica agree on one number.
 */
import { encodeSafetensors, f32Tensor } from '@slimswarm/protocol';
import { paramShapes, type ModelConfig, type Params } from '@slimswarm/performer';

export function encodeBaseWeights(config: ModelConfig, params: Params): Uint8Array {
  const shapes = paramShapes(config);
  return encodeSafetensors(
    Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, f32Tensor(shape, params[name]!)]),
    ),
  );
}
