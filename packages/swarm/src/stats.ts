/**
 * The swarm's counters: one per rejection and ignore reason, deltas accepted, rounds closed, resyncs, and
 * the bytes of every frame in and out. Only the service's gossip wrappers and frame streams count bytes
 * (network.ts); verdicts are counted where they are reached. Every change is also an event.
 */
import {
  IGNORE_REASONS,
  REJECT_REASONS,
  type IgnoreReason,
  type Refusal,
  type RejectReason,
} from './delta-verdict.js';
import type { SwarmEvents } from './events.js';

/** Counters for dashboards and tests. */
export interface SwarmStats {
  rejected: Record<RejectReason, number>;
  ignored: Record<IgnoreReason, number>;
  accepted: number;
  bytesIn: number;
  bytesOut: number;
  roundsClosed: number;
  resyncs: number;
}

export class SwarmCounters {
  private readonly counts: SwarmStats = {
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    ignored: Object.fromEntries(IGNORE_REASONS.map((r) => [r, 0])) as Record<IgnoreReason, number>,
    accepted: 0,
    bytesIn: 0,
    bytesOut: 0,
    roundsClosed: 0,
    resyncs: 0,
  };

  constructor(private readonly events: SwarmEvents) {}

  /** A copy of the counters. */
  snapshot(): SwarmStats {
    return structuredClone(this.counts);
  }

  /** A message from `peer` was refused; `reject` also blames it in gossipsub scoring. */
  refused(peer: string, v: Refusal): void {
    if (v.action === 'reject') this.counts.rejected[v.reason]++;
    else this.counts.ignored[v.reason]++;
    this.events.emit('delta:rejected', { peer, ...v });
  }

  accepted(): void {
    this.counts.accepted++;
  }

  round(kind: 'closed' | 'resync'): void {
    if (kind === 'closed') this.counts.roundsClosed++;
    else this.counts.resyncs++;
  }

  bytes(bytesIn: number, bytesOut: number): void {
    this.counts.bytesIn += bytesIn;
    this.counts.bytesOut += bytesOut;
    this.events.emit('bytes', { bytesIn: this.counts.bytesIn, bytesOut: this.counts.bytesOut });
  }
}
