/** Models the decoding and export tests share: shapes that divide nothing evenly, weights far from init. */
import { ModelConfig } from '@slimswarm/protocol';
import { FAMILY_CONFIGS } from './family-fixtures.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';

// E = 4 with M = 5 (the performer family's config), E = 8 with M = 7, three layers of one head.
export const DECODE_CONFIGS = {
  small: FAMILY_CONFIGS.performer,
  wide: ModelConfig.parse({
    dModel: 16,
    nLayers: 1,
    nHeads: 2,
    nFeatures: 7,
    vocabSize: 19,
    mlpRatio: 3,
    seed: 11,
  }),
  deep: ModelConfig.parse({
    dModel: 6,
    nLayers: 3,
    nHeads: 1,
    nFeatures: 9,
    vocabSize: 13,
    mlpRatio: 2,
    ropeBase: 31,
    seed: 5,
  }),
};

/** Init plus noise (random stream `label`), so distributions are far from uniform and differences show. */
export function liveParams(config: ModelConfig, label: string): Params {
  const params = initParams(config);
  const rng = new Rng(config.seed, label);
  for (const value of Object.values(params))
    for (let i = 0; i < value.length; i++) value[i]! += 0.3 * rng.normal();
  return params;
}
