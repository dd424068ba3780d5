/**
 * What a job trains and what stays frozen, from its manifest and verified base: the one place the client
 * decides the replica's tensors, so the replica, its deltas, merges and weight sync are over exactly
 * what the trainer trains.
 *
 *   full fine-tuning   every parameter (paramShapes), starting from the base's weights;
 *   LoRA               the trainable adapters (trainableShapes), starting from their init, which every
 *                      peer derives from the seed; the base (plus the seeded A with factors 'b') is the
 *                      engine's frozen input and never travels.
 */
import { tensorViewF32, type JobManifest } from '@slimswarm/protocol';
import { initTrainable, loraFrozen, trainableShapes } from '@slimswarm/performer';
import type { LoraFrozen, LoraSpec, Params } from '@slimswarm/performer';
import { weightsFromSafetensors } from './fetch-job.js';

export interface JobModel {
  /** Names and shapes of the replica's (and the trainer's) tensors. */
  shapes: Record<string, number[]>;
  /** Where every peer's replica starts: the same on every peer of the job. */
  initialWeights: Params;
  /** LoRA only: the adapters' config with the base's hash. */
  lora?: { spec: LoraSpec };
}

/**
 * The replica's side of the job. A LoRA job's replica never reads the base, so the base is not decoded
 * here (a 135 M-parameter base is 538 MB): only frozenInputs does, once, for the engine.
 */
export function jobModel(manifest: JobManifest, base: Uint8Array): JobModel {
  const lora = manifest.training.lora;
  if (!lora) return { shapes: trainableShapes(manifest.model), initialWeights: weightsFromSafetensors(base) };
  return {
    shapes: trainableShapes(manifest.model, lora),
    initialWeights: initTrainable(manifest.model, lora),
    // The base was checked against the manifest's hash when it was fetched (fetchBase).
    lora: { spec: { config: lora, baseSha256: manifest.baseCheckpoint.sha256 } },
  };
}

/**
 * A LoRA job's frozen engine inputs: the base's tensors (views over `base`'s bytes, no copy) and the
 * seeded A factors; undefined for full fine-tuning, whose engine is fed every weight. An engine that
 * takes them by transfer (RemoteEngine transferFrozen) detaches `base` itself: with copies here the
 * fetched base stayed alive beside the moved copy for the whole session (513 MiB at SmolLM2's size).
 */
export function frozenInputs(manifest: JobManifest, base: Uint8Array): LoraFrozen | undefined {
  const lora = manifest.training.lora;
  if (!lora) return undefined;
  return { lora, frozen: loraFrozen(manifest.model, lora, weightsFromSafetensors(base, tensorViewF32)) };
}
