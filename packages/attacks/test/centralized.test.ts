/** The centralized baseline of bench:outer: one optimiser on every peer's data, the swarm's tokens. */
import { describe, expect, it } from 'vitest';
import { performer, simulateCentralized, synthetic, type Problem } from '../src/index.js';

/** With one peer, a centralized round is that peer's local steps: the same data, a fresh AdamW. */
async function expectOnePeerIsLocalSteps(problem: Problem): Promise<void> {
  const g = problem.initial();
  problem.reset(4);
  const delta = await problem.localDelta(0, g);
  problem.reset(4);
  const central = await problem.centralRound(g, 1);
  let worst = 0;
  for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(central[j]! - (g[j]! - delta[j]!)));
  expect(worst).toBeLessThan(1e-6);
}

describe('centralized baseline', () => {
  it('one peer: the synthetic and the Performer problem take exactly the local steps', async () => {
    await expectOnePeerIsLocalSteps(synthetic({ params: 256, localSteps: 3, lr: 0.5 }));
    const tiny = await performer({
      peers: 2,
      seqLen: 16,
      localSteps: 2,
      optimizer: { kind: 'adamw', lr: 3e-3 },
      corpusBytes: 20_000,
      heldOutSequences: 2,
    });
    await expectOnePeerIsLocalSteps(tiny);
  });

  it('learns round by round and repeats itself for a seed', async () => {
    const problem = synthetic({ params: 256, localSteps: 3, lr: 0.5 });
    const run = () => simulateCentralized({ problem, peers: 4, rounds: 5, seed: 2 });
    const first = await run();
    expect(first.lossByRound).toHaveLength(5);
    expect(first.finalLoss).toBeLessThan(first.lossByRound[0]!);
    expect((await run()).lossByRound).toEqual(first.lossByRound);
  });
});
