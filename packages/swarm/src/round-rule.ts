/**
 * The closing rule every peer applies to its open round, so that peers that saw the same deltas close
 * the same round with the same set: at least `minDeltas`, and either a quorum of the known active
 * contributors or the deadline since the round started collecting (its first delta).
 */
import type { JobManifest } from '@slimswarm/protocol';

export interface OpenRound {
  /** Deltas accepted for the open round. */
  accepted: number;
  /** When its first delta arrived (ms); null while it has none. */
  openedAt: number | null;
  /** Trainers this peer counts as active (liveness.ts), itself included when it trains. */
  activeContributors: number;
  now: number;
}

export function roundIsDue(policy: JobManifest['round'], open: OpenRound): boolean {
  if (open.accepted < policy.minDeltas || open.openedAt === null) return false;
  const quorum = Math.max(policy.minDeltas, Math.ceil(policy.quorumFraction * open.activeContributors));
  return open.accepted >= quorum || open.now - open.openedAt >= policy.deadlineMs;
}
