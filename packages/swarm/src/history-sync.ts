/**
 * The replica's history: its log of closed rounds (delta-log.ts), the trusted base it replays from, and
 * the two ways it takes a model from others, both by replay (history-replay.ts):
 *
 * - join: group the admitted neighbours' announced models; fetch and replay the most announced first; a
 *   history's support is the number of its announcers that are authors in its own recent rounds, and the
 *   best supported one that replays is adopted. Announcers that never contributed — fresh keys, however
 *   many — add no support, and a history that does not replay adds nothing at all;
 * - resync: the resync rule (resync.ts) chose a model; replay to it from this peer's own model when the
 *   target extends it, from the base checkpoint otherwise (a fork happened before).
 */
import type { Logger } from '@libp2p/interface';
import type { AdmittedPeers } from './admission.js';
import type { JobManifest } from '@slimswarm/protocol';
import { DeltaLog, encodeRoundRecord, type LoggedRound } from './delta-log.js';
import { NoSyncSourceError, ReplayError } from './errors.js';
import type { HistoryReplay, ReplayRoot } from './history-replay.js';
import type { ModelLayout } from './model-layout.js';
import type { SwarmNetwork } from './network.js';
import type { NeighbourView } from './resync.js';
import type { AcceptedDelta, RoundState } from './round-state.js';
import { DEFAULT_SYNC_LIMITS, SyncGate, fetchHistory, serveWeightSync, type SyncAsk } from './weight-sync.js';

/** Records back from the newest whose authors count as active (votes, join support). */
export const ACTIVE_WINDOW_ROUNDS = 8;
/** Announced models a joiner tries per attempt. */
export const MAX_JOIN_CANDIDATES = 16;

type Root = ReplayRoot & { modelSha256: string };

export interface Synced {
  replay: HistoryReplay;
  from: string;
}

export class HistorySync {
  readonly log: DeltaLog;
  private readonly gate = new SyncGate(DEFAULT_SYNC_LIMITS);
  private readonly base: Float32Array; // [P] g_0
  private readonly baseSha256: string;
  private readonly layout: ModelLayout;
  private readonly admitted: AdmittedPeers | undefined;

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    /** g_0 (P, copied: checked against the signed manifest's base hash, or derived from the manifest), its hash, layout, the stamp cache. */
    base: { layout: ModelLayout; weights: Float32Array; modelSha256: string; admitted?: AdmittedPeers },
    maxLogBytes: number,
    private readonly log_: Logger,
  ) {
    this.log = new DeltaLog(maxLogBytes);
    this.layout = base.layout;
    this.base = Float32Array.from(base.weights);
    this.baseSha256 = base.modelSha256;
    this.admitted = base.admitted;
  }

  /** Logs a close: the deltas merged into `round` turned model `baseModelSha256` into `modelSha256`. */
  recordClose(c: {
    round: number;
    baseModelSha256: string;
    modelSha256: string;
    merged: AcceptedDelta[];
  }): void {
    this.log.append(encodeRoundRecord(this.manifest.jobId, c, c.merged));
  }

  /** Bytes this part holds: the log and the base model (P floats). */
  memoryBytes(): number {
    return this.log.bytes + this.base.byteLength;
  }

  /**
   * The peers whose announcements count in the resync rule: authors of the newest records and of the
   * signed deltas `state` verified lately. A peer that has heard nobody but itself (it was cut off
   * since the job began) has no one to tell honest neighbours from others by: all announcements count
   * then, and the replay still refuses any history honest peers did not produce.
   */
  voters(state: RoundState): (peer: string) => boolean {
    const active = this.log.recentAuthors(ACTIVE_WINDOW_ROUNDS);
    for (const p of state.recentSigners(ACTIVE_WINDOW_ROUNDS)) active.add(p);
    active.delete(this.net.selfId);
    return active.size === 0 ? () => true : (peer) => active.has(peer);
  }

  serve(source: () => RoundState | null) {
    return serveWeightSync(
      this.net,
      this.manifest,
      () => {
        const s = source();
        return s && { round: s.round, modelSha256: s.modelSha256, log: this.log };
      },
      this.gate,
      this.log_,
    );
  }

  private baseRoot(): Root {
    return { round: 0, weights: this.base, modelSha256: this.baseSha256 };
  }

  /** Replays to model `asked` from the first connected of `peers` that serves it, from each root in turn. */
  private async fetch(peers: readonly string[], asked: string | null, roots: Root[]): Promise<Synced> {
    const connected = new Set(this.net.connectedPeers());
    let lastError: unknown = new NoSyncSourceError('no connected peer holds the model');
    for (const from of peers) {
      if (!connected.has(from)) continue;
      for (const root of roots) {
        const ask: SyncAsk = { asked, root };
        try {
          const replay = await fetchHistory(this.net, from, ask, this.manifest, this.layout, this.admitted);
          return { replay, from };
        } catch (err) {
          lastError = err;
          this.log_.error('sync from %s (from round %d) failed: %e', from, root.round, err);
        }
      }
    }
    throw lastError;
  }

  /**
   * Resync to `sha` held by `peers`: a peer behind replays from its own model (the target extends it),
   * else from the base; after a fork (disagreement) from the base. Adopts the log.
   */
  async resync(peers: readonly string[], sha: string, own: RoundState, forked: boolean): Promise<Synced> {
    const ownRoot: Root = {
      round: own.round,
      weights: own.weights,
      momentum: own.momentum,
      pastModels: own.pastModels,
      modelSha256: own.modelSha256,
    };
    const synced = await this.fetch(peers, sha, forked ? [this.baseRoot()] : [ownRoot, this.baseRoot()]);
    const fromOwn =
      synced.replay.records[0]?.baseModelSha256 === own.modelSha256 &&
      synced.replay.records[0]?.round === own.round;
    this.adoptLog(fromOwn ? [...this.log.all(), ...synced.replay.records] : synced.replay.records);
    return synced;
  }

  /**
   * A joiner's sync (see the file comment). Throws NoSyncSourceError when nobody announced a model in
   * time, or the last failure when some did and none of their histories replayed.
   */
  async join(
    views: ReadonlyMap<string, NeighbourView>,
    timeoutMs: number,
    pollMs: number,
    signal?: AbortSignal,
  ): Promise<Synced> {
    const deadline = Date.now() + timeoutMs;
    const refuted = new Set<string>();
    let lastError: unknown = new NoSyncSourceError(`no peer announced a model within ${timeoutMs} ms`);
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      let best: (Synced & { support: number }) | null = null;
      for (const c of candidates(views, refuted).slice(0, MAX_JOIN_CANDIDATES)) {
        if (best && c.peers.length <= best.support) break; // it cannot be better supported
        try {
          const synced = await this.fetch(c.peers, c.modelSha256, [this.baseRoot()]);
          const authors = new Set(
            synced.replay.records.slice(-ACTIVE_WINDOW_ROUNDS).flatMap((r) => r.authors),
          );
          const support = c.peers.filter((p) => authors.has(p)).length;
          if (!best || support > best.support) best = { ...synced, support };
        } catch (err) {
          // Only a history that does not replay is refuted for good; busy or not-found may pass.
          if (err instanceof ReplayError) refuted.add(c.key);
          lastError = err;
        }
      }
      if (best) {
        this.adoptLog(best.replay.records);
        return best;
      }
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
    }
    throw lastError;
  }

  private adoptLog(records: readonly LoggedRound[]): void {
    this.log.replace(records);
  }
}

/** The announced models not refuted yet, most announcers first (ties: the later round). */
function candidates(views: ReadonlyMap<string, NeighbourView>, refuted: ReadonlySet<string>) {
  const byModel = new Map<string, { key: string; round: number; modelSha256: string; peers: string[] }>();
  for (const [peer, v] of views) {
    const key = `${v.round}/${v.modelSha256}`;
    if (refuted.has(key)) continue;
    const entry = byModel.get(key) ?? { key, round: v.round, modelSha256: v.modelSha256, peers: [] };
    entry.peers.push(peer);
    byModel.set(key, entry);
  }
  return [...byModel.values()].sort((a, b) => b.peers.length - a.peers.length || b.round - a.round);
}
