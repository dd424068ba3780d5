/** SmolLM2-135M's shapes (random weights) as our ModelConfig: the benches' large model, defined once. */
import { ModelConfig } from '@slimswarm/protocol';

export const SMOLLM2_135M_SHAPES = ModelConfig.parse({
  dModel: 576,
  nLayers: 30,
  nHeads: 9,
  nKvHeads: 3,
  nFeatures: 64,
  vocabSize: 49_152,
  ffnSize: 1536,
  norm: 'rmsnorm',
  mlp: 'swiglu',
  ropeBase: 100_000,
  bias: { qkv: false, attnOut: false, mlp: false },
  seed: 2021,
});
