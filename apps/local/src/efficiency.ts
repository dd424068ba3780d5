/**
 * The swarm's own efficiency, read from what its workers report (their 'ready' and 'round' events):
 *
 *   effective rate = tokens merged / wall seconds of the rounds,
 *
 * where a worker's tokens count once the round its delta joined closed with it among the contributors
 * (dropped, late or refused deltas trained for nothing), and the wall time is the longest worker's rounds
 * (each round event carries the wall time since the previous one: client phases.ts). Beside it, per worker,
 * the share of that wall time its engine spent training, evaluating (busy = both) and waiting for a round.
 */
import { PHASES, type PhaseMs, type VolunteerEvent } from '@slimswarm/client';

export interface WorkerEfficiency {
  /** Tokens of this worker's deltas that a round merged. */
  mergedTokens: number;
  wallMs: number;
  phaseMs: PhaseMs;
  /** Training steps / wall time. */
  trainShare: number;
  /** Training steps and held-out evaluation (the engine at work) / wall time. */
  busyShare: number;
  /** Blocked on a round's close / wall time. */
  waitShare: number;
}

export interface SwarmEfficiency {
  mergedTokens: number;
  wallSec: number;
  effectiveTokensPerSec: number;
  workers: WorkerEfficiency[];
}

/** From each worker's events in order; throws on a worker that never said who it is or closed no round. */
export function swarmEfficiency(workers: readonly (readonly VolunteerEvent[])[]): SwarmEfficiency {
  const each = workers.map((events, i) => workerEfficiency(events, i));
  const mergedTokens = each.reduce((sum, w) => sum + w.mergedTokens, 0);
  const wallMs = Math.max(...each.map((w) => w.wallMs));
  return {
    mergedTokens,
    wallSec: wallMs / 1000,
    effectiveTokensPerSec: wallMs > 0 ? (mergedTokens * 1000) / wallMs : 0,
    workers: each,
  };
}

function workerEfficiency(events: readonly VolunteerEvent[], index: number): WorkerEfficiency {
  const ready = events.find((e) => e.event === 'ready');
  if (!ready) throw new RangeError(`worker ${index} never reported ready`);
  const rounds = events.filter((e) => e.event === 'round');
  if (rounds.length === 0) throw new RangeError(`worker ${index} closed no round`);
  const phaseMs: PhaseMs = { train: 0, wait: 0, evaluate: 0, checkpoint: 0 };
  let wallMs = 0;
  let mergedTokens = 0;
  for (const r of rounds) {
    wallMs += r.wallMs;
    for (const phase of PHASES) phaseMs[phase] += r.phaseMs[phase];
    if (r.contributors.includes(ready.peerId)) mergedTokens += r.tokens;
  }
  const share = (ms: number): number => (wallMs > 0 ? ms / wallMs : 0);
  return {
    mergedTokens,
    wallMs,
    phaseMs,
    trainShare: share(phaseMs.train),
    busyShare: share(phaseMs.train + phaseMs.evaluate),
    waitShare: share(phaseMs.wait),
  };
}
