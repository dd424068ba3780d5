/** Model files a person holds: trainer checkpoints name their model, weights-only files need a config. */
import { Trainer, createNaiveEngine, encodeCheckpoint } from '@slimswarm/performer';
import { describe, expect, it } from 'vitest';
import {
  InvalidModelError,
  ModelConfigMissingError,
  modelConfigOf,
  readModelFile,
  weightsFromSafetensors,
} from '../src/index.js';
import { baseCheckpoint, manifestFor, model, signedJobFor } from './fixtures.js';

describe('readModelFile', () => {
  it('reads a trainer checkpoint with its own config, step and feature epoch', () => {
    const params = weightsFromSafetensors(baseCheckpoint());
    const trainer = new Trainer({
      config: model,
      optimizer: {
        kind: 'adamw',
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        gradClip: 1,
      },
      engine: createNaiveEngine(model),
      params,
    });
    const read = readModelFile(encodeCheckpoint(trainer.toCheckpoint()));
    expect(read).toMatchObject({ config: model, step: 0, featureEpoch: 0, params });
    // The same weights hash alike whatever file they came in: the swarm's model hash.
    expect(read.modelSha256).toBe(readModelFile(baseCheckpoint(), model).modelSha256);
  });

  it('needs a config for weights only, and checks the weights against it', () => {
    expect(() => readModelFile(baseCheckpoint())).toThrow(ModelConfigMissingError);
    expect(() => readModelFile(baseCheckpoint(), { ...model, dModel: 32 })).toThrow(InvalidModelError);
    expect(() => readModelFile(new Uint8Array(16), model)).toThrow(InvalidModelError);
  });
});

describe('modelConfigOf', () => {
  it('takes a model config, a manifest, a signed job or the /api/job listing', () => {
    const base = baseCheckpoint();
    const listing = { job: signedJobFor(base), coordinatorPeerId: 'c', bootstrap: [], iceServers: [] };
    for (const json of [model, manifestFor(base), signedJobFor(base), listing])
      expect(modelConfigOf(JSON.parse(JSON.stringify(json)))).toEqual(model);
    expect(() => modelConfigOf({ hello: 'world' })).toThrow(InvalidModelError);
  });
});
