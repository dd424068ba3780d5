/** The swarm's efficiency from its workers' events: merged tokens only, the longest worker's wall time. */
import { describe, expect, it } from 'vitest';
import { VolunteerEvent } from '@slimswarm/client';
import { swarmEfficiency } from '../src/efficiency.js';

const ready = (peerId: string): VolunteerEvent =>
  VolunteerEvent.parse({
    event: 'ready',
    peerId,
    addresses: [],
    params: 1,
    engine: 'test',
    localSteps: 4,
    resumedFromStep: null,
  });

const round = (
  r: number,
  contributors: string[],
  wallMs: number,
  phaseMs: { train: number; wait: number; evaluate: number; checkpoint: number },
): VolunteerEvent =>
  VolunteerEvent.parse({
    event: 'round',
    round: r,
    baseRound: r,
    meanLoss: 1,
    tokens: 1000,
    tokensTotal: 1000 * (r + 1),
    tokensPerSec: 500,
    staleSteps: 0,
    accepted: contributors.length,
    contributors,
    peers: 1,
    modelSha256: 'x',
    memoryBytes: 0,
    wireBytesOut: 0,
    rejected: {},
    resyncs: 0,
    wallMs,
    phaseMs,
  });

describe('swarmEfficiency', () => {
  it('counts the tokens of merged deltas over the longest worker’s rounds, and each worker’s shares', () => {
    const a = [
      ready('a'),
      round(0, ['a', 'b'], 2000, { train: 1600, wait: 200, evaluate: 100, checkpoint: 10 }),
      round(1, ['a', 'b'], 2000, { train: 1800, wait: 0, evaluate: 0, checkpoint: 10 }),
    ];
    // b's second delta came too late for its round: its tokens were trained for nothing.
    const b = [
      ready('b'),
      round(0, ['a', 'b'], 2500, { train: 1000, wait: 1500, evaluate: 0, checkpoint: 0 }),
      round(1, ['a'], 2500, { train: 2000, wait: 500, evaluate: 0, checkpoint: 0 }),
    ];
    const e = swarmEfficiency([a, b]);
    expect(e.mergedTokens).toBe(3000);
    expect(e.wallSec).toBe(5);
    expect(e.effectiveTokensPerSec).toBe(600);
    expect(e.workers[0]!.busyShare).toBeCloseTo(3500 / 4000, 12);
    expect(e.workers[0]!.trainShare).toBeCloseTo(3400 / 4000, 12);
    expect(e.workers[1]!.waitShare).toBeCloseTo(2000 / 5000, 12);
  });

  it('refuses a worker that never said who it is or closed no round', () => {
    expect(() =>
      swarmEfficiency([[round(0, [], 1, { train: 1, wait: 0, evaluate: 0, checkpoint: 0 })]]),
    ).toThrow(/never reported ready/);
    expect(() => swarmEfficiency([[ready('a')]])).toThrow(/closed no round/);
  });
});
