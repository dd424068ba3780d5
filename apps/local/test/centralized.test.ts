/** The demo's centralized baseline on a tiny job: the swarm's token count, scored like worker 0. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultManifest } from '@slimswarm/default-job';
import { initParams, ModelConfig } from '@slimswarm/performer';
import { JobManifest } from '@slimswarm/protocol';
import { runCentralized } from '../src/centralized.js';
import { heldOutSequences } from '@slimswarm/worker';

const TINY: ModelConfig = ModelConfig.parse({
  dModel: 8,
  nLayers: 1,
  nHeads: 2,
  nFeatures: 4,
  vocabSize: 256,
  mlpRatio: 2,
  ropeBase: 10_000,
  featureRedraw: { kind: 'never' },
  seed: 5,
});

/** The default job with a tiny model and short sequences: everything else (AdamW, outer…) as shipped. */
function tinyManifest(): JobManifest {
  const shipped = defaultManifest({ sha256: '0'.repeat(64), bytes: 1, params: 1 }, 'ab'.repeat(32));
  return JobManifest.parse({
    ...shipped,
    model: TINY,
    training: { ...shipped.training, seqLen: 16, chunkSize: 8, localSteps: 2 },
  });
}

describe('centralized baseline', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trains peers × localSteps sequences per round on every shard and scores every round', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-centralized-'));
    const text = (s: string) => Array.from({ length: 40 }, (_, i) => `${s} ${i % 7} `).join('');
    const shards = await Promise.all(
      ['alpha beta', 'gamma delta', 'epsilon zeta'].map(async (s, i) => {
        const path = join(dir!, `shard-${i}.txt`);
        await writeFile(path, text(s));
        return path;
      }),
    );
    const heldOutPath = join(dir, 'held-out.txt');
    await writeFile(heldOutPath, text('beta gamma'));
    const manifest = tinyManifest();
    const heldOut = await heldOutSequences(heldOutPath, manifest.training.seqLen, 4);
    const seen: number[] = [];
    const result = await runCentralized({
      manifest,
      base: initParams(TINY),
      shards,
      heldOut,
      rounds: 2,
      threads: 1,
      onEval: (e) => seen.push(e.round),
    });
    expect(seen).toEqual([0, 1, 2]);
    expect(result.evals.map((e) => e.round)).toEqual([0, 1, 2]);
    // rounds × peers × localSteps sequences of L predictions: the swarm's tokens for the same rounds.
    expect(result.tokens).toBe(2 * 3 * 2 * 16);
    expect(result.tokensPerSec).toBeGreaterThan(0);
    // From random weights (about ln 256 nats) twelve AdamW steps on this repetitive text already help.
    expect(result.evals[0]!.heldOutLoss).toBeGreaterThan(5);
    expect(result.evals[2]!.heldOutLoss).toBeLessThan(result.evals[0]!.heldOutLoss);
  });
});
