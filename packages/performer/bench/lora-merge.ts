/**
 * How exact is the LoRA merge? Three peers start one DiLoCo round from the same adapters, each takes H
 * local AdamW steps on its own sequences, and the round's update to every adapted matrix is measured two
 * ways: the mean of the peers' updates s·(A_p B_p − A_0 B_0) (what averaging full weights would give) and
 * the update the swarm's merge produces by averaging each factor, s·(Ā B̄ − A_0 B_0). With factors 'b'
 * A is fixed, the product is linear in B and the two agree to fp32 rounding; with 'ab' they do not
 * (FLoRA's point). Prints one JSON line per factors setting: the relative Frobenius error over all
 * adapted matrices.
 *
 *   npm run bench:lora-merge
 */
import { LoraConfig, ModelConfig } from '@slimswarm/protocol';
import { loraFrozen, mergeAdapters, adaptedMatrices, initTrainable } from '../src/model/lora.js';
import { initParams } from '../src/model/params.js';
import type { Params } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { createNaiveEngine } from '../src/naive/index.js';
import { Trainer } from '../src/train/trainer.js';

const config = ModelConfig.parse({
  dModel: 24,
  nLayers: 2,
  nHeads: 3,
  nFeatures: 16,
  vocabSize: 64,
  mlpRatio: 2,
  seed: 17,
});
const PEERS = 3;
const LOCAL_STEPS = 8;
const L = 32;
const LR = 1e-2;

async function round(factors: 'b' | 'ab'): Promise<Record<string, unknown>> {
  const lora = LoraConfig.parse({ factors, rank: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'up', 'down'] });
  const frozen = loraFrozen(config, lora, initParams(config));
  const start = initTrainable(config, lora);
  const locals: Params[] = [];
  for (let p = 0; p < PEERS; p++) {
    const trainer = new Trainer({
      config,
      lora: { config: lora, baseSha256: '0'.repeat(64) },
      optimizer: { kind: 'adamw', lr: LR },
      engine: createNaiveEngine(config, { lora, frozen }),
      params: start,
    });
    const rng = new Rng(config.seed, `lora-merge-peer-${p}`);
    for (let s = 0; s < LOCAL_STEPS; s++) {
      await trainer.step(
        Int32Array.from({ length: L + 1 }, () => Math.floor(rng.uniform() * config.vocabSize)),
      );
    }
    locals.push(trainer.getParams());
  }
  const meanFactors: Params = {};
  for (const name of Object.keys(start)) {
    meanFactors[name] = Float32Array.from(
      start[name]!,
      (_, i) => locals.reduce((s, w) => s + w[name]![i]!, 0) / PEERS,
    );
  }
  const weights = (trainable: Params): Params => mergeAdapters(config, lora, { ...frozen, ...trainable });
  const merged = weights(meanFactors);
  const peers = locals.map(weights);
  let diff = 0;
  let norm = 0;
  for (const m of adaptedMatrices(config, lora)) {
    const before = frozen[m.name]!;
    for (let i = 0; i < before.length; i++) {
      const meanOfProducts = peers.reduce((s, w) => s + (w[m.name]![i]! - before[i]!), 0) / PEERS;
      const productOfMeans = merged[m.name]![i]! - before[i]!;
      diff += (productOfMeans - meanOfProducts) ** 2;
      norm += meanOfProducts ** 2;
    }
  }
  return {
    bench: 'lora-merge',
    factors,
    peers: PEERS,
    localSteps: LOCAL_STEPS,
    rank: lora.rank,
    lr: LR,
    relativeError: Math.sqrt(diff / norm),
  };
}

for (const factors of ['b', 'ab'] as const) console.log(JSON.stringify(await round(factors)));
