/**
 * Replay verification: a peer that syncs never takes a model on anyone's word. It starts from a model it
 * already trusts — the base checkpoint the signed manifest names, or its own model of a round — and
 * re-runs each round record it is sent: every delta passes the same verdict as live gossip (author
 * signature, admission, base, codec, norm bound; through RoundState.offer), then the same canonical merge
 * (RoundState.close) must produce exactly the model the record names. The momentum and the past models
 * come out of the replay too. A forged record, a delta that was never signed, or a result that is not the
 * merge of the record's deltas fails here, at the first round that is wrong.
 *
 * Which of several verified histories to follow is the fork rule's business (resync.ts, history-sync.ts).
 */
import type { DecodedFrame, JobManifest, PastModels, RoundRecord } from '@slimswarm/protocol';
import type { AdmittedPeers } from './admission.js';
import type { LoggedRound } from './delta-log.js';
import { ReplayError } from './errors.js';
import type { ModelLayout } from './model-layout.js';
import { RoundState } from './round-state.js';

/** The trusted model a replay starts from. */
export interface ReplayRoot {
  round: number;
  /** g_round (P); copied. */
  weights: Float32Array;
  /** Outer momentum at that round (P); zeros for the base checkpoint. */
  momentum?: Float32Array;
  /** The models before it that deltas may still be based on (hashes only). */
  pastModels?: PastModels;
}

/** One record as read off the wire: the record, then each author's delta frame and its bytes. */
export interface RecordIn {
  record: RoundRecord;
  recordBytes: Uint8Array;
  deltas: { frame: DecodedFrame; bytes: Uint8Array }[];
}

export class HistoryReplay {
  /** The replayed state: after the last record, the model the history leads to. */
  readonly state: RoundState;
  /** The records replayed so far, encoded as received (the joiner's log from here on). */
  readonly records: LoggedRound[] = [];
  private readonly minDeltas: number;

  /** `admitted`: the peer's cache of verified stamps (a fresh one when omitted). */
  constructor(manifest: JobManifest, layout: ModelLayout, root: ReplayRoot, admitted?: AdmittedPeers) {
    // Its own bans: an author banned later may well have been merged, honestly, in an earlier round.
    this.state = new RoundState({
      manifest,
      layout,
      weights: root.weights,
      round: root.round,
      ...(root.momentum ? { momentum: root.momentum } : {}),
      ...(root.pastModels ? { pastModels: root.pastModels } : {}),
      ...(admitted ? { admitted } : {}),
    });
    this.minDeltas = Math.max(1, manifest.round.minDeltas);
  }

  get round(): number {
    return this.state.round;
  }

  /** Replays one record; throws ReplayError naming the round and what is wrong with it. */
  apply(r: RecordIn): void {
    const { record } = r;
    const s = this.state;
    const at = `round ${record.round}`;
    if (record.round !== s.round) throw new ReplayError(`${at}: expected the record of round ${s.round}`);
    if (record.baseModelSha256 !== s.modelSha256)
      throw new ReplayError(
        `${at}: starts from ${record.baseModelSha256}, the replay holds ${s.modelSha256}`,
      );
    if (r.deltas.length !== record.authors.length)
      throw new ReplayError(
        `${at}: names ${record.authors.length} authors but carries ${r.deltas.length} deltas`,
      );
    // No round closes without its minimum of deltas: an empty record would let a forger add rounds for free.
    if (record.authors.length < this.minDeltas)
      throw new ReplayError(
        `${at}: ${record.authors.length} deltas, the job closes no round below ${this.minDeltas}`,
      );
    record.authors.forEach((author, i) => {
      const v = s.offer(r.deltas[i]!.frame, author, 0);
      if (v.action !== 'accept' || !v.completed)
        throw new ReplayError(
          `${at}: the delta of ${author} is refused (${'reason' in v ? v.reason : 'incomplete'})`,
        );
    });
    const closed = s.close(0);
    if (closed.modelSha256 !== record.modelSha256)
      throw new ReplayError(
        `${at}: the merge gives ${closed.modelSha256}, the record claims ${record.modelSha256}`,
      );
    const frames = [r.recordBytes, ...r.deltas.map((d) => d.bytes)];
    this.records.push({
      round: record.round,
      baseModelSha256: record.baseModelSha256,
      modelSha256: record.modelSha256,
      authors: record.authors,
      frames,
      bytes: frames.reduce((n, f) => n + f.length, 0),
    });
  }
}
