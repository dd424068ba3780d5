/**
 * The timed channels (heartbeats and anti-entropy summaries) reach every peer of the job, so at fixed
 * intervals each peer takes in N heartbeats and N summaries per interval: their cost per peer grows with
 * the swarm, and a large swarm spends its links and CPUs on them instead of on deltas. Above
 * `spreadAbove` peers heard, a peer stretches both intervals, and the window in which it counts a peer as
 * fresh, by heard / spreadAbove: every peer then takes in about `spreadAbove` of each per base interval,
 * however large the swarm. Each peer computes the factor from its own count of peers heard (admitted
 * heartbeats only), and honest counts differ by a few peers, far less than the slack between the
 * freshness window and the heartbeat interval. The factor is capped at `maxSpread`: a crowd of admitted
 * Sybils can slow liveness that far and no further (a departed peer is then noticed that much later).
 */
import type { SwarmTimings } from './peer-config.js';

export type SpreadTimings = Pick<SwarmTimings, 'spreadAbove' | 'maxSpread'>;

/** How much slower the timed channels run, and how much longer freshness lasts, with `heard` peers. */
export function spreadFactor(heard: number, t: SpreadTimings): number {
  return Math.min(t.maxSpread, Math.max(1, heard / t.spreadAbove));
}

/**
 * Runs `fn` every `intervalMs()`, reading the interval anew before each wait, so it follows the swarm's
 * size (setInterval fixes it once). Returns a function that stops it.
 */
export function every(fn: () => void, intervalMs: () => number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const run = () => {
    if (stopped) return;
    timer = setTimeout(run, intervalMs());
    fn();
  };
  timer = setTimeout(run, intervalMs());
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
