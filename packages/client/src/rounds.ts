/**
 * The rounds of a volunteer that has joined (volunteer.ts): per round, take the shared model g_r → H local
 * steps on local text → publish Δ = g_r − w (compressed by the swarm) → wait for the round to close
 * (robust merge by every peer) → evaluate → checkpoint. One object holds what the rounds share: the
 * trainer, the shared model it last adopted, and the totals.
 */
import { encodeCheckpoint, type Trainer } from '@slimswarm/performer';
import {
  StaleContributionError,
  type ContributeResult,
  type ReplicaSnapshot,
  type SwarmPeer,
  type SwarmReplica,
} from '@slimswarm/swarm';
import { RoundThroughput } from './throughput.js';
import type { VolunteerOptions, VolunteerSummary } from './volunteer-options.js';

/** What one round's local steps produced. */
interface LocalSteps {
  steps: number;
  tokens: number;
  meanLoss: number;
  /** The one definition of tokens/s (throughput.ts). */
  tokensPerSec: number;
}

interface ClosedRound {
  round: number;
  peers: string[];
  accepted: number;
}

export class VolunteerRounds {
  /** The shared model the trainer's local steps start from; it moves whenever the swarm's does. */
  private snapshot: ReplicaSnapshot;
  private rounds = 0;
  private heldOutLoss: number | null = null;
  /** Trainer step of the last checkpoint (null: none this run). */
  private savedStep: number | null = null;
  /** Rounds the swarm closed since the last round event (this peer's round is looked up among them). */
  private readonly closed: ClosedRound[] = [];

  constructor(
    private readonly opts: VolunteerOptions,
    private readonly trainer: Trainer,
    private readonly replica: SwarmReplica,
    /** Tokens trained over every run of this volunteer (kept in the saved state). */
    private tokensTotal: number,
  ) {
    this.snapshot = replica.current();
    this.adopt(this.snapshot);
  }

  /** The shared model the trainer holds now. */
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
      while (this.wantsAnotherRound()) await this.round();
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

  private wantsAnotherRound(): boolean {
    return !this.opts.signal?.aborted && (this.opts.rounds === undefined || this.rounds < this.opts.rounds);
  }

  /** One round; returns early (and the loop checks why) when aborted or when the delta came too late. */
  private async round(): Promise<void> {
    const local = await this.trainLocalSteps();
    if (!local) return;
    const sent = await this.contribute(local);
    if (!sent) return;
    const next = await this.replica.nextRound(this.opts.signal);
    this.rounds++;
    this.emitRound(local, sent, next);
    this.closed.length = 0;
    this.adopt(next);
    await this.evaluate();
    await this.save();
  }

  /** H local steps from the adopted shared model; null when aborted on the way. */
  private async trainLocalSteps(): Promise<LocalSteps | null> {
    const steps = this.opts.manifest.training.localSteps;
    const throughput = new RoundThroughput();
    let lossSum = 0;
    for (let h = 1; h <= steps; h++) {
      await this.holdWhilePaused();
      if (this.opts.signal?.aborted) return null;
      const result = await throughput.time(() => this.step());
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
  private async contribute(local: LocalSteps): Promise<ContributeResult | null> {
    let sent: ContributeResult;
    try {
      // Rounds may have closed while we trained: the delta then joins the open round if the job's
      // maxStaleness allows it.
      sent = await this.replica.contribute(this.snapshot, this.trainer.getParams(), {
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

  private emitRound(local: LocalSteps, sent: ContributeResult, next: ReplicaSnapshot): void {
    const closed = this.closed.find((c) => c.round === sent.round);
    this.opts.emit({
      event: 'round',
      round: sent.round,
      baseRound: this.snapshot.round,
      meanLoss: local.meanLoss,
      tokens: local.tokens,
      tokensTotal: this.tokensTotal,
      tokensPerSec: local.tokensPerSec,
      accepted: closed?.accepted ?? 0,
      contributors: closed?.peers ?? [],
      peers: this.opts.peer.getConnections().length,
      modelSha256: next.sha256,
      memoryBytes: this.opts.memoryBytes?.() ?? 0,
      wireBytesOut: sent.wireBytes,
      ...refusals(this.opts.peer),
      ...this.privacy(),
    });
  }

  /** In a private job, what this volunteer's releases spent so far (self-reported, like all of this). */
  private privacy(): { epsilon: number; privacyReleases: number } | Record<string, never> {
    const spent = this.replica.privacySpent();
    return spent ? { epsilon: spent.epsilon, privacyReleases: spent.releases } : {};
  }

  /** The trainer always starts its local steps from the shared model it holds. */
  private adopt(next: ReplicaSnapshot): void {
    this.snapshot = next;
    this.trainer.setParams(next.weights);
  }

  private async evaluate(): Promise<void> {
    const { heldOut } = this.opts;
    if (!heldOut || heldOut.length === 0) return;
    this.heldOutLoss = await this.trainer.evaluate(heldOut);
    const { round, sha256 } = this.snapshot;
    this.opts.emit({ event: 'eval', round, heldOutLoss: this.heldOutLoss, modelSha256: sha256 });
  }

  private async save(): Promise<void> {
    const { store, manifest } = this.opts;
    if (!store) return;
    this.savedStep = this.trainer.stepCount;
    const path = await store.save({
      checkpoint: encodeCheckpoint(this.trainer.toCheckpoint()),
      state: {
        jobId: manifest.jobId,
        round: this.snapshot.round,
        modelSha256: this.snapshot.sha256,
        tokensTotal: this.tokensTotal,
        privacyReleases: this.replica.privacySpent()?.releases ?? 0,
        savedAt: Date.now(),
      },
    });
    this.opts.emit({ event: 'checkpoint', path, step: this.trainer.stepCount, round: this.snapshot.round });
  }

  /**
   * Stopped mid-round: the local steps since the last save are kept (optimiser state, step count), on
   * top of the shared model, which the next start resynchronises anyway.
   */
  private async saveUnsaved(): Promise<void> {
    if (this.savedStep === this.trainer.stepCount) return;
    this.trainer.setParams(this.snapshot.weights);
    await this.save();
  }
}

/** What the swarm service refused and how often it resynchronised, for the round event. */
function refusals(peer: SwarmPeer): { rejected: Record<string, number>; resyncs: number } {
  const { rejected, resyncs } = peer.services.swarm.stats();
  return { rejected: Object.fromEntries(Object.entries(rejected).filter(([, n]) => n > 0)), resyncs };
}
