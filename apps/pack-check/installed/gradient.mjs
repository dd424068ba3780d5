// Run by the pack check inside its install folder as a plain Node ESM script: no TypeScript, no loader,
// no workspace; only the installed @slimswarm/performer. One exact SLiM gradient of a small model, and the
// float64 reference gradient to hold it against; prints one JSON line.
import {
  ModelConfig,
  Rng,
  createSlimEngine,
  drawFeatures,
  initParams,
  maxGradRelativeError,
  naiveLossAndGrad,
} from '@slimswarm/performer';
import process from 'node:process';

const config = ModelConfig.parse({
  dModel: 16,
  nLayers: 2,
  nHeads: 2,
  nFeatures: 8,
  vocabSize: 32,
  mlpRatio: 2,
  seed: 3,
});
const chunk = 4;
const length = 11;

const params = initParams(config);
// Init plus noise: the plain init's small weights make every gradient tiny and nearly uniform.
const rng = new Rng(config.seed, 'pack-check-noise');
for (const value of Object.values(params))
  for (let i = 0; i < value.length; i++) value[i] += 0.25 * rng.normal();
const tokens = Int32Array.from({ length: length + 1 }, () => Math.floor(rng.uniform() * config.vocabSize));
const features = drawFeatures(config, 0);

const engine = await createSlimEngine(config, { chunk, threads: 1 });
try {
  const result = await engine.lossAndGrad(params, tokens, features);
  const reference = naiveLossAndGrad(config, params, tokens, features);
  const worst = maxGradRelativeError(result.grads, reference.grads);
  const count = Object.values(params).reduce((sum, value) => sum + value.length, 0);
  process.stdout.write(
    JSON.stringify({
      params: count,
      tokens: length,
      chunk,
      loss: result.loss,
      referenceLoss: reference.loss,
      maxGradRelativeError: worst.error,
      worstParam: worst.name,
    }) + '\n',
  );
} finally {
  await engine.dispose();
}
