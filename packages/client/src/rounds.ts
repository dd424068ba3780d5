/**
 * The rounds of a volunteer that has joined (volunteer.ts): H local steps on local text → publish
 * Δ = g − w (compressed by the swarm) → while that round closes (robust merge by every peer), already
 * up to `overlapSteps` of the next H steps → when it has closed, move the progress made meanwhile onto
 * the merged model (carry.ts) → now and then evaluate it → checkpoint in the background. One delta is in
 * flight at a time. Steps taken before the merge they follow is known are stale, and staleness costs
 * (docs/benchmarks.md, "The swarm's own efficiency"): hence the bound, 0 unless asked for. One object holds what the
 * rounds share: the trainer, the shared model its steps are based on, and the totals.
 */
import { encodeCheckpoint, type Params, type Trainer } from '@slimswarm/performer';
import {
  StaleContributionError,
  type ContributeResult,
  type ReplicaSnapshot,
  type SwarmPeer,
  type SwarmReplica,
} from '@slimswarm/swarm';
import { carryProgress } from './carry.js';
import { PhaseClock } from './phases.js';
import { RoundThroughput } from './throughput.js';
import {
  DEFAULT_EVAL_EVERY,
  DEFAULT_OVERLAP_STEPS,
  type VolunteerOptions,
  type VolunteerSummary,
} from './volunteer-options.js';

/** What one round's local steps produced. */
interface LocalSteps {
  steps: number;
  tokens: number;
  meanLoss: number;
  /** The one definition of tokens/s (throughput.ts). */
  tokensPerSec: number;
  /** Steps taken while the previous delta's round was still open (before their base model was known). */
  staleSteps: number;
}

interface ClosedRound {
  round: number;
  peers: string[];
  accepted: number;
}

/** The published delta whose round has not closed yet. */
interface InFlight {
  local: LocalSteps;
  sent: ContributeResult;
  /** The round of the shared model the delta was computed against. */
  baseRound: number;
  /** Resolves with the model after that round (or a resync); `next` holds it once it has. */
  close: Promise<ReplicaSnapshot>;
  next: ReplicaSnapshot | null;
  /** The local weights it published, and the trainer's step then: progress beyond them is unpublished. */
  published: Params;
  publishedStep: number;
}

export class VolunteerRounds {
  /** The shared model the next delta is computed against; it moves whenever the swarm's does. */
  private snapshot!: ReplicaSnapshot;
  private inFlight: InFlight | null = null;
  private rounds = 0;
  private heldOutLoss: number | null = null;
  /** Trainer step of the last checkpoint (null: none this run). */
  private savedStep: number | null = null;
  /** The checkpoint being written in the background, and a failure to report at the next save. */
  private saving: Promise<void> | null = null;
  private saveFailure: { error: unknown } | null = null;
  /** Rounds the swarm closed that no round event has reported yet. */
  private closed: ClosedRound[] = [];
  private readonly clock = new PhaseClock();

  constructor(
    private readonly opts: VolunteerOptions,
    private readonly trainer: Trainer,
    private readonly replica: SwarmReplica,
    /** Tokens trained over every run of this volunteer (kept in the saved state). */
    private tokensTotal: number,
  ) {
    this.adopt(replica.current());
  }

  /** The shared model the trainer's steps are based on. */
  get shared(): ReplicaSnapshot {
    return this.snapshot;
  }

  /** Rounds until aborted or `opts.rounds` closed; then saves what is unsaved and says it stopped. */
  async run(): Promise<VolunteerSummary> {
    const offClosed = this.replica.events.on('round:closed', (d) => this.closed.push(d));
    // A resync replaces the shared model mid-round: said as a 'synced' event, so launchers and benchmarks
    // see which model a volunteer adopted from whom (the round event's counter only says how often).
    const offResync = this.replica.events.on('resync', (d) =>
      this.opts.emit({
        event: 'synced',
        round: d.round,
        modelSha256: d.modelSha256,
        source: `resync (${d.reason}) from ${d.from}`,
      }),
    );
    try {
      await this.evaluate();
      for (;;) {
        if (this.opts.signal?.aborted) break;
        if (this.moreDeltasWanted()) await this.trainAndPublish();
        else if (this.inFlight) await this.settle();
        else break;
      }
    } catch (e) {
      if (!this.opts.signal?.aborted) throw e;
    } finally {
      offClosed();
      offResync();
    }
    await this.saveUnsaved();
    this.opts.emit({
      event: 'stopped',
      reason: this.opts.signal?.aborted ? 'aborted' : 'rounds done',
      round: this.snapshot.round,
      step: this.trainer.stepCount,
    });
    return {
      rounds: this.rounds,
      steps: this.trainer.stepCount,
      tokens: this.tokensTotal,
      modelSha256: this.snapshot.sha256,
      heldOutLoss: this.heldOutLoss,
    };
  }

  /** Whether another delta is to be trained, counting the one in flight as a round that will close. */
  private moreDeltasWanted(): boolean {
    const { rounds } = this.opts;
    return rounds === undefined || this.rounds + (this.inFlight ? 1 : 0) < rounds;
  }

  /** One delta: its local steps, the wait for the previous delta's round if it is still open, publishing. */
  private async trainAndPublish(): Promise<void> {
    const local = await this.trainLocalSteps();
    if (!local) return;
    if (this.inFlight) await this.settle();
    const weights = this.trainer.getParams();
    const sent = await this.contribute(local, weights);
    if (!sent) return;
    const inFlight: InFlight = {
      local,
      sent,
      baseRound: this.snapshot.round,
      close: this.replica.nextRound(this.opts.signal),
      next: null,
      published: weights,
      publishedStep: this.trainer.stepCount,
    };
    // Observed here so an abort while training does not leave the rejection unhandled; awaited in settle().
    inFlight.close.then(
      (next) => (inFlight.next = next),
      () => undefined,
    );
    this.inFlight = inFlight;
  }

  /**
   * The in-flight delta's round closed (waited for if it has not): report it, carry the progress since
   * onto the new model, evaluate it when due, checkpoint it in the background.
   */
  private async settle(): Promise<void> {
    const inFlight = this.inFlight!;
    const next = inFlight.next ?? (await this.clock.time('wait', () => inFlight.close));
    this.inFlight = null;
    this.rounds++;
    this.emitRound(inFlight, next);
    // Steps taken while the round closed (none unless overlapSteps allows them) carry over.
    const local = this.trainer.stepCount === inFlight.publishedStep ? null : this.trainer.getParams();
    // The trainer holds the shared model alone while it is scored and saved …
    this.adopt(next);
    if (this.evaluationDue()) await this.evaluate();
    this.saveInBackground();
    // … then the steps taken while the round closed go on from it.
    if (local) this.trainer.setParams(carryProgress(local, inFlight.published, next.weights));
  }

  /** Every `evalEvery` rounds, and after the last one. */
  private evaluationDue(): boolean {
    const every = this.opts.evalEvery ?? DEFAULT_EVAL_EVERY;
    return this.rounds % every === 0 || this.rounds === this.opts.rounds;
  }

  /** H local steps; a round that closes meanwhile is settled between two of them. Null when aborted. */
  private async trainLocalSteps(): Promise<LocalSteps | null> {
    const steps = this.opts.manifest.training.localSteps;
    const overlap = this.opts.overlapSteps ?? DEFAULT_OVERLAP_STEPS;
    const throughput = new RoundThroughput();
    let lossSum = 0;
    let staleSteps = 0;
    for (let h = 1; h <= steps; h++) {
      await this.holdWhilePaused();
      if (this.opts.signal?.aborted) return null;
      if (this.inFlight && (this.inFlight.next || staleSteps >= overlap)) await this.settle();
      if (this.inFlight) staleSteps++;
      const result = await this.clock.time('train', () => throughput.time(() => this.step()));
      lossSum += result.loss;
      this.opts.emit({
        event: 'step',
        round: this.snapshot.round,
        step: this.trainer.stepCount,
        localStep: h,
        loss: result.loss,
        gradNorm: result.gradNorm,
        tokensPerSec: throughput.tokensPerSec,
      });
    }
    if (this.opts.signal?.aborted) return null;
    return {
      steps,
      tokens: throughput.tokens,
      meanLoss: lossSum / steps,
      tokensPerSec: throughput.tokensPerSec,
      staleSteps,
    };
  }

  private async step() {
    const next = await this.opts.sequences.next();
    if (next.done) throw new Error('the training data ended'); // sources cycle; this is a bug if seen
    const result = await this.trainer.step(next.value);
    this.tokensTotal += result.tokens;
    return result;
  }

  /** While paused the swarm is told, so nobody waits for this peer's delta. */
  private async holdWhilePaused(): Promise<void> {
    const { pause } = this.opts;
    if (!pause?.paused) return;
    this.replica.setPaused(true);
    await pause.wait();
    this.replica.setPaused(false);
  }

  /** Publishes the delta; null when it is too old to count, after adopting the current model. */
  private async contribute(local: LocalSteps, weights: Params): Promise<ContributeResult | null> {
    let sent: ContributeResult;
    try {
      // Rounds may have closed while we trained: the delta then joins the open round if the job's
      // maxStaleness allows it.
      sent = await this.replica.contribute(this.snapshot, weights, {
        tokens: local.tokens,
        steps: local.steps,
        meanLoss: local.meanLoss,
      });
    } catch (e) {
      if (!(e instanceof StaleContributionError)) throw e;
      // Too old (or resynced away): the steps are dropped; train again from the current model rather
      // than wait a round idle.
      this.adopt(this.replica.current());
      return null;
    }
    this.replica.reportProgress({
      step: this.trainer.stepCount,
      loss: local.meanLoss,
      tokensPerSec: local.tokensPerSec,
    });
    return sent;
  }

  private emitRound({ local, sent, baseRound }: InFlight, next: ReplicaSnapshot): void {
    const closed = this.closed.find((c) => c.round === sent.round);
    this.closed = this.closed.filter((c) => c.round > sent.round);
    this.opts.emit({
      event: 'round',
      round: sent.round,
      baseRound,
      meanLoss: local.meanLoss,
      tokens: local.tokens,
      tokensTotal: this.tokensTotal,
      tokensPerSec: local.tokensPerSec,
      staleSteps: local.staleSteps,
      accepted: closed?.accepted ?? 0,
      contributors: closed?.peers ?? [],
      peers: this.opts.peer.getConnections().length,
      modelSha256: next.sha256,
      memoryBytes: this.opts.memoryBytes?.() ?? 0,
      wireBytesOut: sent.wireBytes,
      ...refusals(this.opts.peer),
      ...this.privacy(),
      ...this.clock.lap(),
    });
  }

  /** In a private job, what this volunteer's releases spent so far (self-reported, like all of this). */
  private privacy(): { epsilon: number; privacyReleases: number } | Record<string, never> {
    const spent = this.replica.privacySpent();
    return spent ? { epsilon: spent.epsilon, privacyReleases: spent.releases } : {};
  }

  /** The trainer holds the shared model itself: nothing unpublished. */
  private adopt(next: ReplicaSnapshot): void {
    this.snapshot = next;
    this.trainer.setParams(next.weights);
  }

  private async evaluate(): Promise<void> {
    const { heldOut } = this.opts;
    if (!heldOut || heldOut.length === 0) return;
    this.heldOutLoss = await this.clock.time('evaluate', () => this.trainer.evaluate(heldOut));
    const { round, sha256 } = this.snapshot;
    this.opts.emit({ event: 'eval', round, heldOutLoss: this.heldOutLoss, modelSha256: sha256 });
  }

  /**
   * Writes a checkpoint of the trainer as it is now without waiting for the write: the encoding happens
   * here (counted as checkpoint time), the file I/O overlaps the next steps. One write at a time: while
   * one is still going, this round's is skipped (the next one, or the last, catches up).
   */
  private saveInBackground(): void {
    if (this.saveFailure) throw this.saveFailure.error;
    if (this.saving) return;
    const written = this.clock.measure('checkpoint', () => this.writeCheckpoint());
    if (!written) return;
    this.saving = written.then(
      () => {
        this.saving = null;
      },
      (error: unknown) => {
        this.saving = null;
        this.saveFailure = { error };
      },
    );
  }

  /** Encodes the trainer's state at once; resolves when it is on disk. Null without a store. */
  private writeCheckpoint(): Promise<void> | null {
    const { store, manifest } = this.opts;
    if (!store) return null;
    const step = this.trainer.stepCount;
    const round = this.snapshot.round;
    this.savedStep = step;
    const saved = store.save({
      checkpoint: encodeCheckpoint(this.trainer.toCheckpoint()),
      state: {
        jobId: manifest.jobId,
        round,
        modelSha256: this.snapshot.sha256,
        tokensTotal: this.tokensTotal,
        privacyReleases: this.replica.privacySpent()?.releases ?? 0,
        savedAt: Date.now(),
      },
    });
    return saved.then((path) => this.opts.emit({ event: 'checkpoint', path, step, round }));
  }

  /**
   * Stopped: the background write finishes, then the local steps since the last save are kept (optimiser
   * state, step count) on top of the shared model, which the next start resynchronises anyway. A delta
   * still in flight is given up.
   */
  private async saveUnsaved(): Promise<void> {
    await this.saving;
    if (this.saveFailure) throw this.saveFailure.error;
    if (this.savedStep === this.trainer.stepCount) return;
    this.trainer.setParams(this.snapshot.weights);
    await this.writeCheckpoint();
  }
}

/** What the swarm service refused and how often it resynchronised, for the round event. */
function refusals(peer: SwarmPeer): { rejected: Record<string, number>; resyncs: number } {
  const { rejected, resyncs } = peer.services.swarm.stats();
  return { rejected: Object.fromEntries(Object.entries(rejected).filter(([, n]) => n > 0)), resyncs };
}
