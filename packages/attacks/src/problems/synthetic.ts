/**
 * The swarm's synthetic problem (packages/swarm/bench/synthetic-problem.ts): per-peer diagonal least
 * squares with heavy-tailed curvature and heterogeneous targets; the loss is the excess global loss.
 */
import { localSteps, syntheticProblem } from '@slimswarm/swarm/synthetic-problem';
import type { Problem } from '../simulation.js';

export interface SyntheticOptions {
  params: number;
  /** Local steps per round and their step size. */
  localSteps: number;
  lr: number;
}

export function synthetic(opts: SyntheticOptions): Problem {
  let problem = syntheticProblem(opts.params, 1);
  return {
    name: 'synthetic',
    params: opts.params,
    initial: () => new Float32Array(opts.params),
    reset(seed) {
      problem = syntheticProblem(opts.params, seed);
    },
    async localDelta(peer, g) {
      const w = localSteps(problem, peer, g, opts.localSteps, opts.lr);
      return Float32Array.from(g, (x, j) => x - w[j]!);
    },
    async centralRound(g, peers) {
      let w = g;
      for (let s = 0; s < opts.localSteps; s++)
        for (let i = 0; i < peers; i++) w = localSteps(problem, i, w, 1, opts.lr);
      return w;
    },
    async loss(g) {
      return problem.loss(g);
    },
  };
}
