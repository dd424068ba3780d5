/** A small job and signed deltas for the unit tests of the swarm's parts (no libp2p). */
import { JobManifest } from '@slimswarm/protocol';
import { syntheticManifest, syntheticProblem } from '../bench/synthetic-problem.js';
import { ErrorFeedbackEncoder } from '../src/codec.js';
import { makeContribution } from '../src/contribution.js';
import { ModelLayout } from '../src/model-layout.js';
import { RoundState } from '../src/round-state.js';
import { modelSha256 } from '../src/wire.js';
import { stampFor, type Identity } from './identities.js';

export function smallJob(overrides: Partial<Parameters<typeof syntheticManifest>[0]> = {}, params = 512) {
  const problem = syntheticProblem(params, 3);
  const layout = new ModelLayout(problem.shapes);
  const w0 = new Float32Array(layout.size);
  const manifest = syntheticManifest({
    baseSha256: modelSha256(layout, w0),
    params: layout.size,
    codec: 'dense-f32',
    ...overrides,
  });
  const state = () => new RoundState({ manifest, layout, weights: w0 });
  return { problem, layout, w0, manifest, state };
}

/** `who`'s delta for `state`'s open round: a small step toward its own target, one part of `maxPartBytes`. */
export function deltaOf(state: RoundState, who: Identity, maxPartBytes = 1 << 20, fill = 0.01) {
  const local = Float32Array.from(state.weights, (w) => w - fill);
  return makeContribution(state, {
    encoder: new ErrorFeedbackEncoder(state.layout.size, state.manifest.compression),
    peer: who.id,
    localWeights: local,
    stats: { tokens: 10, steps: 1, meanLoss: 1 },
    maxPartBytes,
    sign: who.sign,
    admission: stampFor(state.manifest, who.id),
  });
}

/**
 * A LoRA job on the synthetic model (D = 64, one layer): rank-2 B of wq only, 2 · 64 = 128 trainable
 * values, on a base of `baseParams` (the swarm never holds the base). Its replica holds the adapters.
 */
export function loraJob(overrides: Partial<Parameters<typeof syntheticManifest>[0]> = {}, baseParams = 512) {
  const shapes = { 'blocks.0.attn.wq.lora_b': [2, 64] };
  const layout = new ModelLayout(shapes);
  const w0 = new Float32Array(layout.size);
  const full = syntheticManifest({
    baseSha256: modelSha256(layout, w0),
    params: baseParams,
    codec: 'dense-f32',
    ...overrides,
  });
  const lora = { factors: 'b' as const, rank: 2, alpha: 2, targets: ['q' as const] };
  const manifest = JobManifest.parse({ ...full, training: { ...full.training, lora } });
  const state = () => new RoundState({ manifest, layout, weights: w0 });
  return { layout, shapes, w0, manifest, state };
}
