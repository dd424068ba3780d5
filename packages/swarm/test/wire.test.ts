/** The weight-sync body: weights, momentum, round and the past models a synced peer must know. */
import { decodeSafetensors, encodeSafetensors } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { ModelLayoutError } from '../src/errors.js';
import { ModelLayout } from '../src/model-layout.js';
import { decodeModelState, encodeModelState } from '../src/wire.js';

const layout = new ModelLayout({ 'a.weight': [2, 3], b: [5] });
const state = {
  weights: Float32Array.from({ length: layout.size }, (_, i) => i / 7),
  momentum: Float32Array.from({ length: layout.size }, (_, i) => -i / 3),
  round: 12,
  pastModels: [{ round: 11, modelSha256: 'ab'.repeat(32) }],
};

describe('weight-sync body', () => {
  it('round-trips, with or without a layout given', () => {
    const bytes = encodeModelState(layout, state);
    for (const given of [layout, undefined]) {
      const back = decodeModelState(bytes, 1 << 20, given);
      expect(back).toMatchObject(state);
      expect(back.layout.size).toBe(layout.size);
    }
  });

  it('refuses a body without a valid round or past-model list', () => {
    const { tensors, metadata } = decodeSafetensors(encodeModelState(layout, state));
    for (const bad of <Record<string, string>[]>[
      { ...metadata, pastModels: 'not json' },
      { ...metadata, pastModels: '[{"round":11}]' },
      { round: metadata.round! },
      { ...metadata, round: '-1' },
    ]) {
      expect(() => decodeModelState(encodeSafetensors(tensors, bad), 1 << 20)).toThrow(ModelLayoutError);
    }
  });
});
