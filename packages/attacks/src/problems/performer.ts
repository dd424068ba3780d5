/**
 * A real Performer, tiny enough for a grid of runs: byte-level, one layer, trained by the float64 naive
 * engine (the reference the SLiM engine is tested against) with AdamW, each honest peer on its own shard
 * of the default corpus (this repository's docs and sources); the loss is held-out nats per byte. A
 * caller may bring another model instead (a job's, with its engine and base weights).
 */
import { readFile } from 'node:fs/promises';
import { defaultCorpusFiles } from '@slimswarm/default-job';
import {
  Trainer,
  createNaiveEngine,
  initParams,
  paramShapes,
  type GradientEngine,
  ModelConfig,
  type Params,
} from '@slimswarm/performer';
import type { InnerOptimizer } from '@slimswarm/protocol';
import { ModelLayout } from '@slimswarm/swarm';
import type { z } from 'zod';
import { seededRandom, type Problem } from '../simulation.js';

export const TINY_PERFORMER: ModelConfig = ModelConfig.parse({
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 8,
  vocabSize: 256,
  mlpRatio: 2,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 3,
});

export interface PerformerOptions {
  peers: number;
  seqLen: number;
  localSteps: number;
  /** Every trainer's AdamW (a job's `training.inner`). */
  optimizer: z.input<typeof InnerOptimizer>;
  /** Bytes of the corpus used (the shards and the held-out part together). */
  corpusBytes: number;
  heldOutSequences: number;
  /** The model, its engine and starting weights (default: TINY_PERFORMER, naive, initParams). */
  model?: { config: ModelConfig; engine: GradientEngine; base: Params };
}

export async function performer(opts: PerformerOptions): Promise<Problem> {
  const config = opts.model?.config ?? TINY_PERFORMER;
  const engine = opts.model?.engine ?? createNaiveEngine(config);
  const layout = new ModelLayout(paramShapes(config));
  const base = layout.flatten(opts.model?.base ?? initParams(config));
  const text = await corpus(opts.corpusBytes);
  // Peers' shards and one held-out part, contiguous blocks of the corpus.
  const block = Math.floor(text.length / (opts.peers + 1));
  const shard = (i: number) => text.subarray(i * block, (i + 1) * block);
  const heldOut = Array.from({ length: opts.heldOutSequences }, (_, k) => {
    const part = shard(opts.peers);
    const at = Math.floor((k * (part.length - opts.seqLen - 1)) / opts.heldOutSequences);
    return Int32Array.from(part.subarray(at, at + opts.seqLen + 1));
  });
  const { optimizer } = opts;
  const trainer = () =>
    new Trainer({ config, optimizer, engine, params: layout.view(Float32Array.from(base)) });
  const evaluator = trainer();
  let trainers: Trainer[] = [];
  let central = trainer();
  let random = seededRandom(1);
  /** One training sequence (L + 1 ids) at a random place of peer i's shard. */
  const sequence = (peer: number): Int32Array => {
    const data = shard(peer);
    const at = Math.floor(random() * (data.length - opts.seqLen - 1));
    return Int32Array.from(data.subarray(at, at + opts.seqLen + 1));
  };
  return {
    name: 'performer',
    params: layout.size,
    initial: () => Float32Array.from(base),
    reset(seed) {
      random = seededRandom(seed);
      trainers = Array.from({ length: opts.peers }, trainer);
      central = trainer();
    },
    async localDelta(peer, g) {
      const local = trainers[peer]!;
      local.setParams(layout.view(Float32Array.from(g)));
      for (let s = 0; s < opts.localSteps; s++) await local.step(sequence(peer));
      const w = layout.flatten(local.getParams());
      return Float32Array.from(g, (x, j) => x - w[j]!);
    },
    async centralRound(g, peers) {
      central.setParams(layout.view(Float32Array.from(g)));
      for (let s = 0; s < opts.localSteps; s++)
        for (let peer = 0; peer < peers; peer++) await central.step(sequence(peer));
      return layout.flatten(central.getParams());
    },
    async loss(g) {
      evaluator.setParams(layout.view(Float32Array.from(g)));
      return evaluator.evaluate(heldOut);
    },
  };
}

/** The first `bytes` bytes of the default corpus (files in a fixed order). */
async function corpus(bytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  let filled = 0;
  for (const file of await defaultCorpusFiles()) {
    if (filled >= bytes) break;
    const data = await readFile(file);
    const n = Math.min(data.length, bytes - filled);
    out.set(data.subarray(0, n), filled);
    filled += n;
  }
  return out.subarray(0, filled);
}
