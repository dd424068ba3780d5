/**
 * What the scale check measures of one client, and how its figures come out of the volunteer's own
 * events (the same events the worker prints and the tab shows): one definition for both clients.
 */
import type { VolunteerEvent } from '@slimswarm/client';

export interface ScaleJob {
  /** The coordinator's HTTP address. */
  coordinator: string;
  model: string;
  length: number;
  lora: number;
  /** A scratch folder for this run (deleted afterwards). */
  scratch: string;
  say: (line: string) => void;
}

export interface ClientRun {
  /** The engine the client trained with, as its ready event names it (backend and threads). */
  engine: string;
  length: number;
  lora: number;
  /** Peak resident set from start to the first round, start-up, base fetch and engine creation included. */
  peakRssMiB: number;
  /** Peak resident set from start to ready to train (base fetched, engine created). */
  startPeakRssMiB: number;
  /** Peak resident set while the first local step trained and the delta was sent. */
  trainingPeakRssMiB: number;
  /** Start (process spawn or page load) to ready to train. */
  startSeconds: number;
  /** Wall time of the first local step. */
  stepSeconds: number;
  /** The step event's tokens/s (throughput.ts). */
  tokensPerSec: number;
  /** Bytes this client had sent on the wire when its first round closed (delta, heartbeats, summaries). */
  wireBytesOut: number;
  /** The engine's own memory figure from the round event. */
  memoryBytes: number;
  loss: number;
}

type Ready = Extract<VolunteerEvent, { event: 'ready' }>;
type Step = Extract<VolunteerEvent, { event: 'step' }>;
type Round = Extract<VolunteerEvent, { event: 'round' }>;

/** The figures of a client's events and its two memory windows. */
export function clientRun(
  job: ScaleJob,
  times: { spawned: number; synced: number; stepped: number },
  events: { ready: Ready; step: Step; round: Round },
  peaks: { startMiB: number; trainingMiB: number },
): ClientRun {
  const { ready, step, round } = events;
  return {
    engine: ready.engine,
    length: job.length,
    lora: job.lora,
    peakRssMiB: Math.max(peaks.startMiB, peaks.trainingMiB),
    startPeakRssMiB: peaks.startMiB,
    trainingPeakRssMiB: peaks.trainingMiB,
    startSeconds: (times.synced - times.spawned) / 1000,
    stepSeconds: (times.stepped - times.synced) / 1000,
    tokensPerSec: step.tokensPerSec,
    wireBytesOut: round.wireBytesOut,
    memoryBytes: round.memoryBytes,
    loss: step.loss,
  };
}
