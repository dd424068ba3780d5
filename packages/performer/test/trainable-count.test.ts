/**
 * The protocol sizes every delta by trainableParamCount (from the manifest alone, for observers without
 * the model); the replicas hold trainableShapes. The two must agree for every family and LoRA config.
 */
import { LoraConfig, LoraTarget, trainableParamCount } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { trainableShapes } from '../src/model/lora.js';
import { paramCount } from '../src/model/params.js';
import { FAMILY_CONFIGS, FAMILY_NAMES } from './family-fixtures.js';

const total = (shapes: Record<string, number[]>) =>
  Object.values(shapes).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);

/** Every non-empty set of targets, in the order of LoraTarget. */
const TARGET_SETS: LoraTarget[][] = Array.from({ length: (1 << LoraTarget.options.length) - 1 }, (_, i) =>
  LoraTarget.options.filter((_, bit) => ((i + 1) >> bit) & 1),
);

describe('trainableParamCount (protocol) against trainableShapes (performer)', () => {
  it.each(FAMILY_NAMES)('%s: every target set, both factor choices, and full fine-tuning', (family) => {
    const model = FAMILY_CONFIGS[family];
    const baseCheckpoint = { params: paramCount(model) };
    expect(trainableParamCount({ model, training: {}, baseCheckpoint })).toBe(total(trainableShapes(model)));
    let checked = 0;
    for (const targets of TARGET_SETS) {
      if (targets.includes('gate') && model.mlp !== 'swiglu') continue; // the manifest refuses it
      for (const factors of ['b', 'ab'] as const) {
        const lora = LoraConfig.parse({ factors, rank: 3, alpha: 6, targets });
        expect(trainableParamCount({ model, training: { lora }, baseCheckpoint })).toBe(
          total(trainableShapes(model, lora)),
        );
        checked++;
      }
    }
    expect(checked).toBe(model.mlp === 'swiglu' ? 2 * 127 : 2 * 63);
  });
});
