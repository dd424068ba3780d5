/**
 * One volunteer session from start to end, the same for the Node worker and the browser tab: fetch the
 * signed job (against the pinned job key), the verified base and tokenizer, create the peer, obtain its admission
 * stamp, connect it to the listed peers, keep meeting
 * newcomers, start the gradient engine, run the volunteer loop — and tear down what was started, in
 * reverse order, whatever happens. Each shell injects what differs: its kind of peer (Node or browser)
 * and which addresses that peer can dial, its engine, its text and its storage.
 */
import type { GradientEngine, LoraFrozen, Tokenizer } from '@slimswarm/performer';
import type { JobManifest } from '@slimswarm/protocol';
import type { SwarmPeer } from '@slimswarm/swarm';
import { keepMeeting } from './connect.js';
import { enterSwarm, fetchVerifiedJob, type JobEntryOptions } from './entry.js';
import type { VolunteerStore } from './store.js';
import { frozenInputs } from './job-model.js';
import { Teardown } from './teardown.js';
import { runVolunteer } from './volunteer.js';
import type { VolunteerOptions, VolunteerSummary } from './volunteer-options.js';

export interface VolunteerSessionOptions
  extends
    JobEntryOptions,
    Pick<
      VolunteerOptions,
      | 'rounds'
      | 'signal'
      | 'pause'
      | 'emit'
      | 'memoryBytes'
      | 'joinTimeoutMs'
      | 'onSharedModel'
      | 'evalEvery'
      | 'overlapSteps'
    > {
  /**
   * Starts the gradient engine for the job's model; `name` is shown in the 'ready' event. For a LoRA
   * job `lora` holds the frozen base and factors the engine must be created with (createSlimEngine's
   * third argument); it is then called with the trainable adapters.
   */
  createEngine: (
    manifest: JobManifest,
    lora: LoraFrozen | undefined,
  ) => Promise<{ engine: GradientEngine; name: string }>;
  /**
   * Endless training sequences of L + 1 token ids from local data, encoded by the job's verified tokenizer
   * (the peer's id may seed their order).
   */
  sequences: (job: {
    manifest: JobManifest;
    peer: SwarmPeer;
    tokenizer: Tokenizer;
  }) => AsyncIterator<Int32Array>;
  /** Held-out sequences to evaluate the shared model on (VolunteerOptions.heldOut says when). */
  heldOut?: (job: { manifest: JobManifest; tokenizer: Tokenizer }) => Promise<readonly Int32Array[]>;
  /** Where this job's volunteer state is kept between runs. */
  store?: (manifest: JobManifest) => VolunteerStore;
  /** How often to re-read the listing for peers that joined around the same time (keepMeeting). */
  meetIntervalMs: number;
}

/**
 * Runs one session; resolves with the loop's summary when it stopped (rounds done, or `signal` aborted),
 * or null when `signal` aborted before the loop started. Rejects with the first failure, after the
 * teardown.
 */
export async function startVolunteerSession(opts: VolunteerSessionOptions): Promise<VolunteerSummary | null> {
  const { coordinator, signal } = opts;
  let job;
  try {
    job = await fetchVerifiedJob(opts);
  } catch (err) {
    if (signal?.aborted) return null;
    throw err;
  }
  const { listing, base, tokenizer } = job;
  const { manifest } = listing;
  const heldOut = await opts.heldOut?.({ manifest, tokenizer });
  const started = new Teardown();
  return started.around(async () => {
    if (signal?.aborted) return null;
    const { peer, admission } = await enterSwarm(opts, listing, started);
    const meeting = keepMeeting(peer, coordinator, { intervalMs: opts.meetIntervalMs, accept: opts.canDial });
    started.add('meeting', () => meeting.stop());
    if (signal?.aborted) return null;
    const lora = frozenInputs(manifest, base);
    const { engine, name } = await opts.createEngine(manifest, lora);
    started.add('engine', () => engine.dispose());
    if (signal?.aborted) return null;
    return runVolunteer({
      manifest,
      peer,
      engine,
      engineName: name,
      admission,
      base,
      sequences: opts.sequences({ manifest, peer, tokenizer }),
      heldOut,
      evalEvery: opts.evalEvery,
      overlapSteps: opts.overlapSteps,
      store: opts.store?.(manifest),
      rounds: opts.rounds,
      signal,
      pause: opts.pause,
      emit: opts.emit,
      memoryBytes: opts.memoryBytes,
      joinTimeoutMs: opts.joinTimeoutMs,
      onSharedModel: opts.onSharedModel,
    });
  });
}
