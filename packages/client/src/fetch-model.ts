/**
 * Fetching the swarm's current shared model, for people who want to use it rather than train it (the
 * `slimswarm-generate` and `slimswarm-export` CLIs, tests): the signed job, verified base and tokenizer over HTTP
 * (entry.ts), a peer that never trains (the caller makes it a non-trainer, e.g. role 'dashboard', so no
 * round ever waits for it), admission, then joining by history replay (join.ts) — the replica's model
 * *is* the shared model, every round of it checked by replay from the base — and a clean stop.
 * When nobody announces a model in time (a job nobody trained yet), the base is the shared model, and
 * the result says so.
 */
import { mergeAdapters, type Params, type Tokenizer } from '@slimswarm/performer';
import type { JobManifest } from '@slimswarm/protocol';
import { z } from 'zod';
import { enterSwarm, fetchVerifiedJob, type JobEntryOptions } from './entry.js';
import { DEFAULT_JOIN_TIMEOUT_MS, joinSwarm, type Joined } from './join.js';
import { frozenInputs, jobModel } from './job-model.js';
import { Teardown } from './teardown.js';

/** Joins tried when peers announced a model but none of them served it within the join timeout. */
const JOIN_ATTEMPTS = 3;

/** Longest a whole fetch may take by default: HTTP, admission, the join wait and the replay. */
export const DEFAULT_MODEL_FETCH_TIMEOUT_MS = 120_000;

/** The fetch did not finish within its time limit. */
export class ModelFetchTimeoutError extends Error {
  static override name = 'ModelFetchTimeoutError';
  override name = 'ModelFetchTimeoutError';
}

/** An option of fetchSharedModel has a value it cannot use. */
export class InvalidModelFetchOptionsError extends Error {
  static override name = 'InvalidModelFetchOptionsError';
  override name = 'InvalidModelFetchOptionsError';
}

/** The plain values of the options, checked before anything goes on the network. */
export const ModelFetchSettings = z
  .object({
    coordinator: z.union([z.instanceof(URL), z.url({ protocol: /^https?$/ })]),
    /** Default DEFAULT_MODEL_FETCH_TIMEOUT_MS. */
    timeoutMs: z.number().int().positive().optional(),
    /** How long to wait for a peer to announce a model before taking the base (join.ts). */
    joinTimeoutMs: z.number().int().positive().optional(),
  })
  .loose();

export interface ModelFetchOptions extends JobEntryOptions {
  timeoutMs?: number;
  joinTimeoutMs?: number;
}

export interface SharedModel {
  /** The signed, verified job manifest: model config, tokenizer, … */
  manifest: JobManifest;
  /** The job's tokenizer, its files checked against the manifest: prompts are encoded and text decoded by it. */
  tokenizer: Tokenizer;
  /**
   * The shared model's weights, by parameter name: for a LoRA job the base with the swarm's adapters
   * merged in (W + s·A·B), the weights the model computes with.
   */
  params: Params;
  round: number;
  /** The swarm's model hash (SHA-256 of the replica's canonical safetensors: for LoRA, of the adapters). */
  modelSha256: string;
  /** 'peers': replayed from their history; 'base checkpoint': nobody announced a model, the base is it. */
  source: Joined['source'];
}

/**
 * Resolves with the shared model, with everything it started stopped. Rejects with the entry's typed
 * errors (JobFetchError, JobSignatureError, BaseHashMismatchError, AdmissionRequiredError,
 * NoPeersReachableError, a sync failure), ModelFetchTimeoutError, or the reason of `signal`'s abort.
 */
export async function fetchSharedModel(opts: ModelFetchOptions): Promise<SharedModel> {
  const settings = ModelFetchSettings.safeParse(opts);
  if (!settings.success) throw new InvalidModelFetchOptionsError(z.prettifyError(settings.error));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_MODEL_FETCH_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    return await fetchUnder({ ...opts, signal });
  } catch (err) {
    if (timeout.aborted && !opts.signal?.aborted)
      throw new ModelFetchTimeoutError(`no shared model within ${timeoutMs} ms`, { cause: err });
    throw err;
  }
}

async function fetchUnder(opts: ModelFetchOptions & { signal: AbortSignal }): Promise<SharedModel> {
  const { signal } = opts;
  const { listing, base, tokenizer } = await fetchVerifiedJob(opts);
  const { manifest } = listing;
  const started = new Teardown();
  return started.around(async () => {
    signal.throwIfAborted();
    const { peer, admission } = await enterSwarm(opts, listing, started);
    const model = jobModel(manifest, base);
    const join = () =>
      joinSwarm(
        {
          peer,
          manifest,
          base,
          admission,
          signal,
          joinTimeoutMs: opts.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS,
        },
        model,
      );
    let joined: Joined | null = null;
    for (let attempt = 1; !joined; attempt++) {
      try {
        joined = await join();
      } catch (err) {
        // A peer answers not-found when its model moved on since it announced it (a round closed in
        // between); the next announcement names the new one. Whoever joins to use the model asks again.
        if ((err as Error)?.name !== 'WeightSyncError' || attempt >= JOIN_ATTEMPTS) throw err;
      }
    }
    const { replica, source } = joined;
    started.add('replica', () => replica.stop());
    signal.throwIfAborted();
    const { weights, round, sha256 } = replica.current();
    const lora = frozenInputs(manifest, base);
    const params = lora ? mergeAdapters(manifest.model, lora.lora, { ...lora.frozen, ...weights }) : weights;
    return { manifest, tokenizer, params, round, modelSha256: sha256, source };
  });
}
