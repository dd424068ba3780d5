import { ModelConfig, sha256Hex } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/index.js';
import { ByteTokenizer, blobSource, streamSequences } from '../src/data/index.js';
import type { SequenceOptions } from '../src/data/index.js';
import type { GradientEngine } from '../src/model/engine.js';
import type { LayerFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import { createNaiveEngine } from '../src/naive/index.js';
import { Trainer } from '../src/train/index.js';

const config = ModelConfig.parse({
  dModel: 32,
  nLayers: 2,
  nHeads: 2,
  nFeatures: 16,
  vocabSize: 256,
  mlpRatio: 2,
  seed: 1,
});
const optimizer = { kind: 'adamw', lr: 3e-3, weightDecay: 0.01, gradClip: 1 } as const;

/** A corpus the test makes itself: a few phrases repeated in a fixed pseudo-random order. */
function corpusText(bytes: number): Uint8Array {
  const phrases = [
    'the quick brown fox jumps over the lazy dog. ',
    'a stitch in time saves nine. ',
    'slim swarms train together. ',
  ];
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += phrases[(i * 7 + (i >> 2)) % phrases.length];
  return Uint8Array.from(new ByteTokenizer().encode(text));
}

function corpus(bytes: number): Blob {
  return new Blob([corpusText(bytes)]);
}

/** Entropy (nats) of the byte frequencies: the best loss a model that ignores context can reach. */
function unigramEntropy(bytes: Uint8Array): number {
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / bytes.length) * Math.log(c / bytes.length);
  return h;
}

async function take(blob: Blob, options: SequenceOptions, n: number): Promise<Int32Array[]> {
  const out: Int32Array[] = [];
  for await (const s of streamSequences(blobSource(blob), options)) {
    out.push(s.tokens);
    if (out.length === n) break;
  }
  return out;
}

/** Records the random features of every engine call, passing the work on to the naive engine. */
function recording(engine: GradientEngine, seen: LayerFeatures[][]): GradientEngine {
  return {
    lossAndGrad: (params, tokens, features) => {
      seen.push([...features]);
      return engine.lossAndGrad(params, tokens, features);
    },
    loss: (params, tokens, features) => engine.loss(params, tokens, features),
    dispose: () => engine.dispose(),
  };
}

describe('Trainer', () => {
  it('makes the loss fall clearly, below what context-free prediction can reach, on held-out text', async () => {
    const text = corpusText(16_000);
    const blob = new Blob([text]);
    const split = { heldOutFraction: 0.1, seed: 3 };
    const train = await take(
      blob,
      {
        seqLen: 32,
        epochs: Infinity,
        split: { ...split, take: 'train' },
        shuffle: { bufferSize: 64, seed: 4 },
      },
      120,
    );
    const heldOut = await take(blob, { seqLen: 32, split: { ...split, take: 'heldout' } }, 8);
    expect(heldOut).toHaveLength(8);

    const trainer = new Trainer({ config, optimizer, engine: createNaiveEngine(config) });
    const before = await trainer.evaluate(heldOut);
    expect(before).toBeGreaterThan(5); // ≈ ln 256 at init
    const losses: number[] = [];
    for (const tokens of train) {
      const r = await trainer.step(tokens);
      expect(r.tokens).toBe(32);
      expect(r.gradNorm).toBeGreaterThan(0);
      losses.push(r.loss);
    }
    const after = await trainer.evaluate(heldOut);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `unigram entropy ${unigramEntropy(text).toFixed(3)}; loss: first 5 steps ${mean(losses.slice(0, 5)).toFixed(3)}, last 5 ${mean(losses.slice(-5)).toFixed(3)}; held-out ${before.toFixed(3)} -> ${after.toFixed(3)}`,
    );
    expect(mean(losses.slice(-5))).toBeLessThan(0.5 * mean(losses.slice(0, 5)));
    expect(after).toBeLessThan(0.5 * before);
    // only attention over earlier tokens can beat the byte frequencies
    expect(after).toBeLessThan(unigramEntropy(text) - 0.5);
    expect(trainer.stepCount).toBe(120);
  });

  it('resumes from a checkpoint exactly as if never stopped', async () => {
    const seqs = await take(corpus(4000), { seqLen: 16 }, 6);
    const engine = createNaiveEngine(config);
    const straight = new Trainer({ config, optimizer, engine });
    for (const s of seqs) await straight.step(s);

    const first = new Trainer({ config, optimizer, engine });
    for (const s of seqs.slice(0, 3)) await first.step(s);
    const resumed = Trainer.fromCheckpoint(decodeCheckpoint(encodeCheckpoint(first.toCheckpoint())), {
      optimizer,
      engine,
    });
    expect(resumed.stepCount).toBe(3);
    for (const s of seqs.slice(3)) await resumed.step(s);
    expect(sha256Hex(encodeCheckpoint(resumed.toCheckpoint()))).toBe(
      sha256Hex(encodeCheckpoint(straight.toCheckpoint())),
    );
  });

  it('redraws the random features on the configured schedule, and records the epoch in checkpoints', async () => {
    const redrawing = ModelConfig.parse({ ...config, featureRedraw: { kind: 'every-steps', steps: 2 } });
    const seen: LayerFeatures[][] = [];
    const trainer = new Trainer({
      config: redrawing,
      optimizer,
      engine: recording(createNaiveEngine(redrawing), seen),
    });
    const [tokens] = await take(corpus(1000), { seqLen: 8 }, 1);
    for (let i = 0; i < 5; i++) await trainer.step(tokens!);
    const omegas = seen.map((layers) => layers[0]!.omega);
    expect(omegas[1]).toBe(omegas[0]); // same epoch: the very same draw
    expect(omegas[2]).not.toEqual(omegas[1]);
    expect(omegas[3]).toBe(omegas[2]);
    expect(omegas[4]).not.toEqual(omegas[3]);
    expect(trainer.toCheckpoint().featureEpoch).toBe(2);

    const never: LayerFeatures[][] = [];
    const fixed = new Trainer({ config, optimizer, engine: recording(createNaiveEngine(config), never) });
    for (let i = 0; i < 3; i++) await fixed.step(tokens!);
    expect(never[2]![0]!.omega).toBe(never[0]![0]!.omega);
  });

  it('replaces weights with setParams (copied and checked), keeping its step count', async () => {
    const trainer = new Trainer({ config, optimizer, engine: createNaiveEngine(config) });
    const [tokens] = await take(corpus(1000), { seqLen: 8 }, 1);
    await trainer.step(tokens!);
    const merged = initParams({ ...config, seed: 99 });
    trainer.setParams(merged);
    expect(sha256Hex(encodeCheckpoint({ ...trainer.toCheckpoint(), params: merged }))).toBe(
      sha256Hex(encodeCheckpoint(trainer.toCheckpoint())),
    );
    merged.tok_emb![0] = 42;
    expect(trainer.getParams().tok_emb![0]).not.toBe(42);
    expect(trainer.stepCount).toBe(1);
    const { 'ln_f.bias': _dropped, ...partial } = merged;
    expect(() => trainer.setParams(partial)).toThrow(expect.objectContaining({ name: 'TrainerConfigError' }));
  });

  it('refuses overlapping calls, empty evaluations and invalid configuration with typed errors', async () => {
    const trainer = new Trainer({ config, optimizer, engine: createNaiveEngine(config) });
    const [tokens] = await take(corpus(1000), { seqLen: 8 }, 1);
    const params = trainer.getParams();
    const running = trainer.step(tokens!);
    // checked before awaiting anything: the naive engine finishes within the same microtask queue
    expect(() => trainer.setParams(params)).toThrow(expect.objectContaining({ name: 'TrainerBusyError' }));
    const overlapping = trainer.evaluate([tokens!]);
    await running;
    await expect(overlapping).rejects.toMatchObject({ name: 'TrainerBusyError' });
    expect(trainer.stepCount).toBe(1);
    await expect(trainer.evaluate([])).rejects.toMatchObject({ name: 'EmptyEvaluationError' });
    expect(
      () => new Trainer({ config: { ...config, nHeads: 3 }, optimizer, engine: createNaiveEngine(config) }),
    ).toThrow(expect.objectContaining({ name: 'TrainerConfigError' }));
    expect(
      () => new Trainer({ config, optimizer: { ...optimizer, lr: -1 }, engine: createNaiveEngine(config) }),
    ).toThrow(expect.objectContaining({ name: 'TrainerConfigError' }));
  });
});
