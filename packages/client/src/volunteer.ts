/**
 * The volunteer loop, written once for the Node worker and the browser tab:
 *
 *   join (sync the shared model from peers, or start from the verified base) →
 *   per round: take the shared model g_r → H local steps on local text → publish Δ = g_r − w (compressed,
 *   by the swarm) → wait for the round to close (robust merge by every peer) → evaluate → checkpoint.
 *
 * Local text only ever reaches the gradient engine; what leaves is the swarm's compressed delta and the
 * metrics in its heartbeats.
 */
import type { JobManifest } from '@slimswarm/protocol';
import { decodeSafetensors, tensorToF32 } from '@slimswarm/protocol';
import {
  Trainer,
  decodeCheckpoint,
  encodeCheckpoint,
  paramCount,
  paramShapes,
  type GradientEngine,
  type Params,
} from '@slimswarm/performer';
import {
  createSwarmReplica,
  StaleContributionError,
  type ContributeResult,
  type SwarmPeer,
  type SwarmReplica,
  type ReplicaSnapshot,
} from '@slimswarm/swarm';
import type { VolunteerEvent } from './events.js';
import type { VolunteerStore } from './store.js';

/** The saved state belongs to another job, or to another model. */
export class IncompatibleStateError extends Error {
  static override name = 'IncompatibleStateError';
  override name = 'IncompatibleStateError';
}

export interface VolunteerOptions {
  manifest: JobManifest;
  /** A started swarm peer (createNodePeer / createBrowserPeer), connected to the job's bootstrap peers. */
  peer: SwarmPeer;
  engine: GradientEngine;
  /** Shown in the 'ready' event (e.g. "slim-ort wasm ×2"). */
  engineName: string;
  /** The base checkpoint as published (weights-only canonical safetensors, hash checked by fetchBase). */
  base: Uint8Array;
  /** Endless training sequences of L + 1 token ids from local data. */
  sequences: AsyncIterator<Int32Array>;
  /** Held-out sequences; when given, the shared model is evaluated on them after every round. */
  heldOut?: readonly Int32Array[];
  store?: VolunteerStore;
  /** Stop after this many closed rounds (default: until aborted). */
  rounds?: number;
  /** Abort to stop: the current step finishes, the state is saved, the loop returns. */
  signal?: AbortSignal;
  /** Lets the volunteer pause between steps; the swarm is told, so nobody waits for this peer. */
  pause?: PauseGate;
  emit: (event: VolunteerEvent) => void;
  /** Memory in use, for progress (Node: RSS; browser: what the page can tell). */
  memoryBytes?: () => number;
  /** How long to look for peers that are ahead before starting from the base model. */
  joinTimeoutMs?: number;
}

export interface PauseGate {
  readonly paused: boolean;
  /** Resolves when training may go on (at once when not paused). */
  wait(): Promise<void>;
}

export interface VolunteerSummary {
  rounds: number;
  steps: number;
  tokens: number;
  modelSha256: string;
  heldOutLoss: number | null;
}

/** The weights of a weights-only safetensors file, by name. */
export function weightsFromSafetensors(bytes: Uint8Array): Params {
  const { tensors } = decodeSafetensors(bytes);
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, tensorToF32(t)]));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

async function join(opts: VolunteerOptions): Promise<{ replica: SwarmReplica; source: string }> {
  const shapes = paramShapes(opts.manifest.model);
  const timeout = AbortSignal.timeout(opts.joinTimeoutMs ?? 8_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const replica = await createSwarmReplica({
      peer: opts.peer,
      manifest: opts.manifest,
      shapes,
      syncFromPeers: true,
      signal,
    });
    return { replica, source: 'peers' };
  } catch {
    // Nobody is ahead (the first peers of a job): everyone starts from the same verified base.
    opts.signal?.throwIfAborted();
  }
  const replica = await createSwarmReplica({
    peer: opts.peer,
    manifest: opts.manifest,
    shapes,
    initialWeights: weightsFromSafetensors(opts.base),
  });
  // Peers starting together must know of each other before the first round can close, or each would
  // close it alone (a quorum of the active peers it knows). Heartbeats announce trainers: wait for two.
  const { heartbeatIntervalMs } = opts.peer.services.swarm.timings;
  await sleep(Math.round(2.5 * heartbeatIntervalMs), opts.signal);
  return { replica, source: 'base checkpoint' };
}

export async function runVolunteer(opts: VolunteerOptions): Promise<VolunteerSummary> {
  const { manifest, emit } = opts;
  const saved = await opts.store?.load();
  let trainer: Trainer;
  let tokensTotal = 0;
  if (saved) {
    if (saved.state.jobId !== manifest.jobId) {
      throw new IncompatibleStateError(`saved state is for job ${saved.state.jobId}, not ${manifest.jobId}`);
    }
    let checkpoint;
    try {
      checkpoint = decodeCheckpoint(saved.checkpoint, { config: manifest.model });
    } catch (e) {
      throw new IncompatibleStateError(`saved checkpoint does not fit this job: ${(e as Error).message}`);
    }
    trainer = Trainer.fromCheckpoint(checkpoint, { optimizer: manifest.training.inner, engine: opts.engine });
    tokensTotal = saved.state.tokensTotal;
  } else {
    trainer = new Trainer({
      config: manifest.model,
      optimizer: manifest.training.inner,
      engine: opts.engine,
      params: weightsFromSafetensors(opts.base),
    });
  }

  const { replica, source } = await join(opts);
  const peerId = opts.peer.peerId.toString();
  emit({
    event: 'ready',
    peerId,
    addresses: opts.peer.getMultiaddrs().map((a) => a.toString()),
    params: paramCount(manifest.model),
    engine: opts.engineName,
    localSteps: manifest.training.localSteps,
    resumedFromStep: saved ? trainer.stepCount : null,
  });
  // The trainer always starts its local steps from the shared model it holds: adopt it whenever it moves.
  let snapshot = replica.current();
  const adopt = (next: ReplicaSnapshot): void => {
    snapshot = next;
    trainer.setParams(next.weights);
  };
  adopt(snapshot);
  emit({ event: 'synced', round: snapshot.round, modelSha256: snapshot.sha256, source });

  const closedRounds: { round: number; peers: string[]; accepted: number }[] = [];
  const offClosed = replica.events.on('round:closed', (d) => closedRounds.push(d));
  let rounds = 0;
  let heldOutLoss: number | null = null;
  const evaluate = async (snap: ReplicaSnapshot): Promise<void> => {
    if (!opts.heldOut || opts.heldOut.length === 0) return;
    heldOutLoss = await trainer.evaluate(opts.heldOut);
    emit({ event: 'eval', round: snap.round, heldOutLoss, modelSha256: snap.sha256 });
  };
  let savedStep: number | null = null;
  const save = async (snap: ReplicaSnapshot): Promise<void> => {
    if (!opts.store) return;
    savedStep = trainer.stepCount;
    const path = await opts.store.save({
      checkpoint: encodeCheckpoint(trainer.toCheckpoint()),
      state: {
        jobId: manifest.jobId,
        round: snap.round,
        modelSha256: snap.sha256,
        tokensTotal,
        savedAt: Date.now(),
      },
    });
    emit({ event: 'checkpoint', path, step: trainer.stepCount, round: snap.round });
  };

  try {
    await evaluate(snapshot);
    while (!opts.signal?.aborted && (opts.rounds === undefined || rounds < opts.rounds)) {
      const started = performance.now();
      let lossSum = 0;
      let tokens = 0;
      const steps = manifest.training.localSteps;
      for (let h = 1; h <= steps && !opts.signal?.aborted; h++) {
        if (opts.pause?.paused) {
          replica.setPaused(true);
          await opts.pause.wait();
          replica.setPaused(false);
        }
        const next = await opts.sequences.next();
        if (next.done) throw new Error('the training data ended'); // sources cycle; this is a bug if seen
        const result = await trainer.step(next.value);
        lossSum += result.loss;
        tokens += result.tokens;
        tokensTotal += result.tokens;
        emit({
          event: 'step',
          round: snapshot.round,
          step: trainer.stepCount,
          localStep: h,
          loss: result.loss,
          gradNorm: result.gradNorm,
          tokensPerSec: (tokens * 1000) / Math.max(1, performance.now() - started),
        });
      }
      if (opts.signal?.aborted) break;
      const meanLoss = lossSum / steps;
      let sent: ContributeResult;
      try {
        // Rounds may have closed while we trained: the delta then joins the open round if the job's
        // maxStaleness allows it.
        sent = await replica.contribute(snapshot, trainer.getParams(), { tokens, steps, meanLoss });
      } catch (e) {
        if (!(e instanceof StaleContributionError)) throw e;
        // Too old (or resynced away): the steps are dropped; train again from the current model rather
        // than wait a round idle.
        adopt(replica.current());
        continue;
      }
      replica.reportProgress({
        step: trainer.stepCount,
        loss: meanLoss,
        tokensPerSec: (tokens * 1000) / Math.max(1, performance.now() - started),
      });
      const next = await replica.nextRound(opts.signal);
      const closed = closedRounds.find((c) => c.round === sent.round);
      rounds++;
      emit({
        event: 'round',
        round: sent.round,
        baseRound: snapshot.round,
        meanLoss,
        tokens,
        tokensTotal,
        tokensPerSec: (tokens * 1000) / Math.max(1, performance.now() - started),
        accepted: closed?.accepted ?? 0,
        contributors: closed?.peers ?? [],
        peers: opts.peer.getConnections().length,
        modelSha256: next.sha256,
        memoryBytes: opts.memoryBytes?.() ?? 0,
        wireBytesOut: sent.wireBytes,
        ...refusals(opts.peer),
      });
      closedRounds.length = 0;
      adopt(next);
      await evaluate(snapshot);
      await save(snapshot);
    }
  } catch (e) {
    if (!opts.signal?.aborted) throw e;
  } finally {
    offClosed();
  }
  // Stopped mid-round: the local steps since the last save are kept (optimiser state, step count), on
  // top of the shared model, which the next start resynchronises anyway.
  if (savedStep !== trainer.stepCount) {
    trainer.setParams(snapshot.weights);
    await save(snapshot);
  }
  emit({
    event: 'stopped',
    reason: opts.signal?.aborted ? 'aborted' : 'rounds done',
    round: snapshot.round,
    step: trainer.stepCount,
  });
  await replica.stop();
  return { rounds, steps: trainer.stepCount, tokens: tokensTotal, modelSha256: snapshot.sha256, heldOutLoss };
}

/** What the swarm service refused and how often it resynchronised, for the round event. */
function refusals(peer: SwarmPeer): { rejected: Record<string, number>; resyncs: number } {
  const { rejected, resyncs } = peer.services.swarm.stats();
  return { rejected: Object.fromEntries(Object.entries(rejected).filter(([, n]) => n > 0)), resyncs };
}
