/** The bench models: today's small one, the default job's (3.2 M), and SmolLM2-135M's shapes (random). */
import { DEFAULT_MODEL } from '@slimswarm/default-job/job';
import { ModelConfig } from '@slimswarm/protocol';
import { SMOLLM2_135M_SHAPES } from './smollm2-shapes.js';

export const BENCH_MODELS = {
  /** 428 k parameters: the original bench rows. */
  tiny: ModelConfig.parse({
    dModel: 128,
    nLayers: 2,
    nHeads: 4,
    nFeatures: 64,
    vocabSize: 256,
    mlpRatio: 4,
    seed: 2021,
  }),
  /** D = 256, 4 layers, 4 heads, M = 64, V = 256, F = 1024: 3.2 M parameters. */
  job: DEFAULT_MODEL,
  'smollm2-135m-shapes': SMOLLM2_135M_SHAPES,
} as const;
export type BenchModelName = keyof typeof BENCH_MODELS;
export const BENCH_MODEL_NAMES = Object.keys(BENCH_MODELS) as [BenchModelName, ...BenchModelName[]];
