/**
 * A LoRA job's frozen inputs are views over the fetched base, not copies: moving them to an engine thread
 * moves the base itself, so no second copy of it stays behind (513 MiB at SmolLM2-135M's size).
 */
import { MessageChannel } from 'node:worker_threads';
import { JobManifest, LoraConfig } from '@slimswarm/protocol';
import { describe, expect, it } from 'vitest';
import { weightsFromSafetensors } from '../src/fetch-job.js';
import { frozenInputs } from '../src/job-model.js';
import { baseCheckpoint, manifestFor } from './fixtures.js';

describe('frozenInputs', () => {
  it('gives views over the base, so a transfer to the engine detaches the base itself', () => {
    const base = baseCheckpoint();
    const plain = manifestFor(base, 'job-model-test');
    const lora = LoraConfig.parse({ rank: 2, alpha: 4, targets: ['q', 'v'] });
    const manifest = JobManifest.parse({ ...plain, training: { ...plain.training, lora } });
    const copies = weightsFromSafetensors(base);
    const frozen = frozenInputs(manifest, base)!.frozen;
    for (const [name, values] of Object.entries(copies)) {
      expect(frozen[name]!.buffer).toBe(base.buffer);
      expect(frozen[name]).toEqual(values);
    }
    const { port1, port2 } = new MessageChannel();
    const buffers = [...new Set(Object.values(frozen).map((t) => t.buffer as ArrayBuffer))];
    port1.postMessage(frozen, buffers);
    port1.close();
    port2.close();
    expect(base.byteLength).toBe(0);
  });

  it('is undefined for full fine-tuning', () => {
    const base = baseCheckpoint();
    expect(frozenInputs(manifestFor(base), base)).toBeUndefined();
  });
});
