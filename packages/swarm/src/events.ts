/**
 * Typed events for dashboards and the volunteer loop. A plain EventTarget (works in browsers and Node)
 * with CustomEvent details; `on` returns a function that removes the listener.
 */
import type { Heartbeat } from '@slimswarm/protocol';
import type { IgnoreReason, RejectReason } from './delta-verdict.js';

export interface SwarmEventMap {
  'peer:connect': { peer: string };
  'peer:disconnect': { peer: string };
  /**
   * Its Rejects put `peer` below gossipsub's graylist threshold (its `score` then): it is disconnected
   * and banned until `until` (ms since the epoch), and fired again at each heartbeat it is still
   * connected while banned.
   */
  'peer:graylisted': { peer: string; score: number; until: number };
  /** A new round began collecting deltas (after a merge, a resync or the join). */
  'round:opened': { round: number; modelSha256: string };
  /**
   * A round merged: `accepted` deltas from `peers` (in merge order) gave the model `modelSha256`; `stale`
   * of them were computed from an earlier round's model.
   */
  'round:closed': {
    round: number;
    accepted: number;
    peers: string[];
    stale: number;
    modelSha256: string;
    durationMs: number;
    /** CPU time of the close itself: the robust merge and the optimiser step (this peer, this round). */
    mergeMs: number;
  };
  'delta:accepted': { peer: string; round: number; payloadSha256: string; via: 'gossip' | 'pull' | 'self' };
  /** Reject blames the sender (gossipsub scoring); ignore drops without blame. */
  'delta:rejected':
    | { peer: string; action: 'reject'; reason: RejectReason }
    | { peer: string; action: 'ignore'; reason: IgnoreReason };
  /** Running totals of frame bytes this peer received and sent (gossip and streams). */
  bytes: { bytesIn: number; bytesOut: number };
  heartbeat: { peer: string; heartbeat: Heartbeat };
  /**
   * `peer` signed two different deltas for `round` and is ignored for the rest of the job: this peer saw
   * both (`delta`) or checked a neighbour's evidence (`evidence`).
   */
  'peer:banned': { peer: string; round: number; via: 'delta' | 'evidence' };
  /** This peer replaced its model with one fetched from `from` (late join or disagreement). */
  resync: { from: string; round: number; modelSha256: string; reason: 'join' | 'disagreement' | 'behind' };
}

export type SwarmEventName = keyof SwarmEventMap;

export class SwarmEvents extends EventTarget {
  emit<K extends SwarmEventName>(type: K, detail: SwarmEventMap[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on<K extends SwarmEventName>(type: K, listener: (detail: SwarmEventMap[K]) => void): () => void {
    const wrapped = (e: Event) => listener((e as CustomEvent<SwarmEventMap[K]>).detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }
}
