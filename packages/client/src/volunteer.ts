/**
 * The volunteer loop, written once for the Node worker and the browser tab:
 *
 *   restore the trainer (saved state or the verified base) → join the shared model (join.ts: sync from
 *   peers, or start from the base) → rounds until stopped (rounds.ts: H local steps → Δ → merge →
 *   evaluate → checkpoint).
 *
 * Local text only ever reaches the gradient engine; what leaves is the swarm's compressed delta and the
 * metrics in its heartbeats.
 */
import { Trainer, decodeCheckpoint, paramCount } from '@slimswarm/performer';
import { joinSwarm } from './join.js';
import { jobModel, type JobModel } from './job-model.js';
import { VolunteerRounds } from './rounds.js';
import type { SavedVolunteer } from './store.js';
import type { VolunteerOptions, VolunteerSummary } from './volunteer-options.js';

export type { VolunteerOptions, PauseGate, VolunteerSummary } from './volunteer-options.js';

/** The saved state belongs to another job, or to another model. */
export class IncompatibleStateError extends Error {
  static override name = 'IncompatibleStateError';
  override name = 'IncompatibleStateError';
}

/**
 * Trains with the swarm until `opts.rounds` rounds closed or `opts.signal` aborts (then it saves and
 * resolves, also when aborted while joining). Failures to join other than "nobody has the model yet"
 * reject (join.ts).
 */
export async function runVolunteer(opts: VolunteerOptions): Promise<VolunteerSummary> {
  const saved = (await opts.store?.load()) ?? null;
  const model = jobModel(opts.manifest, opts.base);
  const { trainer, tokensTotal } = restoreTrainer(opts, model, saved);
  let joined;
  try {
    joined = await joinSwarm(opts, model, saved?.state.privacyReleases ?? 0);
  } catch (e) {
    if (!opts.signal?.aborted) throw e;
    return stoppedBeforeJoining(opts, trainer, saved);
  }
  const { replica, source } = joined;
  opts.onSharedModel?.(() => replica.current());
  const spent = replica.privacySpent();
  try {
    opts.emit({
      event: 'ready',
      peerId: opts.peer.peerId.toString(),
      addresses: opts.peer.getMultiaddrs().map((a) => a.toString()),
      params: paramCount(opts.manifest.model),
      engine: opts.engineName,
      localSteps: opts.manifest.training.localSteps,
      resumedFromStep: saved ? trainer.stepCount : null,
      ...(spent ? { epsilon: spent.epsilon } : {}),
    });
    const rounds = new VolunteerRounds(opts, trainer, replica, tokensTotal);
    const { round, sha256 } = rounds.shared;
    opts.emit({ event: 'synced', round, modelSha256: sha256, source });
    return await rounds.run();
  } finally {
    opts.onSharedModel?.(null);
    await replica.stop();
  }
}

/** The trainer where this volunteer left off (weights, AdamW moments, step), or fresh on the base. */
function restoreTrainer(
  opts: VolunteerOptions,
  model: JobModel,
  saved: SavedVolunteer | null,
): { trainer: Trainer; tokensTotal: number } {
  const { manifest } = opts;
  const lora = model.lora ? { lora: model.lora.spec } : {};
  if (!saved) {
    const trainer = new Trainer({
      config: manifest.model,
      optimizer: manifest.training.inner,
      engine: opts.engine,
      params: model.initialWeights,
      ...lora,
    });
    return { trainer, tokensTotal: 0 };
  }
  if (saved.state.jobId !== manifest.jobId) {
    throw new IncompatibleStateError(`saved state is for job ${saved.state.jobId}, not ${manifest.jobId}`);
  }
  let checkpoint;
  try {
    checkpoint = decodeCheckpoint(saved.checkpoint, { config: manifest.model, ...lora });
  } catch (e) {
    throw new IncompatibleStateError(`saved checkpoint does not fit this job: ${(e as Error).message}`);
  }
  const trainer = Trainer.fromCheckpoint(checkpoint, {
    optimizer: manifest.training.inner,
    engine: opts.engine,
  });
  return { trainer, tokensTotal: saved.state.tokensTotal };
}

/** Aborted before the shared model was reached: nothing trained, nothing to save. */
function stoppedBeforeJoining(
  opts: VolunteerOptions,
  trainer: Trainer,
  saved: SavedVolunteer | null,
): VolunteerSummary {
  const round = saved?.state.round ?? 0;
  opts.emit({ event: 'stopped', reason: 'aborted', round, step: trainer.stepCount });
  return {
    rounds: 0,
    steps: trainer.stepCount,
    tokens: saved?.state.tokensTotal ?? 0,
    modelSha256: saved?.state.modelSha256 ?? opts.manifest.baseCheckpoint.sha256,
    heldOutLoss: null,
  };
}
