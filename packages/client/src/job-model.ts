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
import type { JobManifest } from '@slimswarm/protocol';
import { sha256Hex } from '@slimswarm/protocol';
import { initTrainable, loraFrozen, trainableShapes } from '@slimswarm/performer';
import type { LoraFrozen, LoraSpec, Params } from '@slimswarm/performer';
import { weightsFromSafetensors } from './fetch-job.js';

export interface JobModel {
  /** Names and shapes of the replica's (and the trainer's) tensors. */
  shapes: Record<string, number[]>;
  /** Where every peer's replica starts: the same on every peer of the job. */
  initialWeights: Params;
  /** LoRA only: the adapters' config with the base's hash, and the engine's frozen inputs. */
  lora?: { spec: LoraSpec; frozen: LoraFrozen };
}

export function jobModel(manifest: JobManifest, base: Uint8Array): JobModel {
  const baseWeights = weightsFromSafetensors(base);
  const lora = manifest.training.lora;
  if (!lora) return { shapes: trainableShapes(manifest.model), initialWeights: baseWeights };
  return {
    shapes: trainableShapes(manifest.model, lora),
    initialWeights: initTrainable(manifest.model, lora),
    lora: {
      spec: { config: lora, baseSha256: sha256Hex(base) },
      frozen: { lora, frozen: loraFrozen(manifest.model, lora, baseWeights) },
    },
  };
}
