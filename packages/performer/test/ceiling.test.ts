import { ModelConfig } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { createSlimEngine, flopsPerTokenOfStep, measureCeiling } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';

// Big enough that the engine's products are real work (C = 256, D = 256, F = 1024), small enough for CI.
const config = ModelConfig.parse({
  dModel: 256,
  nLayers: 1,
  nHeads: 4,
  nFeatures: 64,
  vocabSize: 256,
  mlpRatio: 4,
  seed: 15,
});
const CHUNK = 256;
const THREADS = 2;

describe('measureCeiling', () => {
  it('is never below the rate the engine itself reaches (the old single-shape peak was)', async () => {
    // Measured before and after the engine (best of both), so a load spike on a shared machine during one
    // of them cannot decide the comparison.
    const opts = { threads: THREADS, minSeconds: 0.3, streamElements: 1 << 20 };
    const before = await measureCeiling(opts);
    const engine = await createSlimEngine(config, { chunk: CHUNK, threads: THREADS });
    const params = initParams(config);
    const features = drawFeatures(config, 0);
    const length = 2 * CHUNK;
    const tokens = Int32Array.from({ length: length + 1 }, (_, i) => (i * 31) % 256);
    await engine.lossAndGrad(params, tokens, features); // warm-up: sessions and heap
    let fastest = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await engine.lossAndGrad(params, tokens, features);
      fastest = Math.min(fastest, (performance.now() - started) / 1000);
    }
    await engine.dispose();
    const engineGflops = (flopsPerTokenOfStep(config, 'slim-ort', CHUNK) * length) / fastest / 1e9;

    // The ceiling covers the engine's own chunk shapes and the square ones at the same threads: the best
    // of them is what the engine is compared with, so it must bound the engine's rate.
    const after = await measureCeiling(opts);
    for (const ceiling of [before, after]) {
      expect(ceiling.perShape.length).toBeGreaterThanOrEqual(4);
      expect(ceiling.matmulGflops).toBe(Math.max(...ceiling.perShape.map((r) => r.gflops)));
      expect(ceiling.bandwidthGBs).toBeGreaterThan(0);
    }
    expect(Math.max(before.matmulGflops, after.matmulGflops)).toBeGreaterThan(engineGflops);
  });
});
