/**
 * A few rounds of the swarm's training in one process, with or without a private job's mechanism: each
 * round every volunteer trains H local steps from the shared model on the next H windows of its own text,
 * its Δ = g − w_local is clipped and noised (private-delta.ts, the peers' own code) when the job is
 * private, and the mean of the deltas takes the job's Nesterov outer step (aggregate.ts). What it leaves
 * is the shared model an attacker (or a user) of the swarm then holds.
 *
 * The mean rather than the robust merge: with a handful of honest volunteers the rules agree, and the
 * question here is what the noise leaves, not what the merge rejects. The codec is left out (the deltas go
 * as they are): it is post-processing of the noised delta, and lossless sending is the attacker's best case.
 */
import type { GradientEngine, ModelConfig, Params } from '@slimswarm/performer';
import type { InnerOptimizer, OuterOptimizer, PrivacyConfig } from '@slimswarm/protocol';
import { ModelLayout, nesterovStep, privatizeDelta } from '@slimswarm/swarm';
import { roundDelta } from './round-leak.js';

export interface PrivateRoundsOptions {
  config: ModelConfig;
  engine: GradientEngine;
  optimizer: InnerOptimizer;
  outer: OuterOptimizer;
  base: Params;
  /** Each volunteer's text as byte tokens. */
  texts: readonly Uint8Array[];
  seqLen: number;
  localSteps: number;
  rounds: number;
  privacy?: Pick<PrivacyConfig, 'clipNorm' | 'noiseMultiplier'>;
}

/** Window `i` (stride L, L + 1 ids) of `text`, cycling: the volunteer's loop reads its text in passes. */
function window(text: Uint8Array, seqLen: number, i: number): Int32Array {
  const windows = Math.floor((text.length - 1) / seqLen);
  if (windows < 1) throw new RangeError(`a text of ${text.length} bytes holds no sequence of ${seqLen + 1}`);
  const at = (i % windows) * seqLen;
  return Int32Array.from(text.subarray(at, at + seqLen + 1));
}

/** The shared model after `rounds` rounds. */
export async function trainPrivateRounds(opts: PrivateRoundsOptions): Promise<Params> {
  const layout = ModelLayout.fromWeights(opts.base);
  const weights = layout.flatten(opts.base);
  const momentum = new Float32Array(weights.length);
  for (let round = 0; round < opts.rounds; round++) {
    const mean = new Float32Array(weights.length);
    for (const text of opts.texts) {
      const sequences = Array.from({ length: opts.localSteps }, (_, j) =>
        window(text, opts.seqLen, round * opts.localSteps + j),
      );
      const delta = await roundDelta(opts, layout, weights, sequences);
      if (opts.privacy) privatizeDelta(delta, opts.privacy);
      for (let i = 0; i < mean.length; i++) mean[i]! += delta[i]! / opts.texts.length;
    }
    nesterovStep(weights, momentum, mean, opts.outer);
  }
  return layout.view(weights);
}
