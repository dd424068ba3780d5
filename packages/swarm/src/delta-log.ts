/**
 * The job's history as this peer holds it: for each closed round, the model it started from, the signed
 * deltas its close merged, and the model that came out. Because the merge is canonical, anyone who holds
 * a round's starting model can replay the record and check the result (history-replay.ts), so a peer that
 * syncs needs no weights from anybody — only these records, from a model it already trusts.
 *
 * Records are kept encoded, exactly as a weight sync sends them (one cached encoding, served as is), and
 * the oldest are dropped beyond `maxBytes`: the log then no longer reaches back to the base checkpoint,
 * and a joiner can verify only from a later model it holds itself (docs/swarm-protocol.md §5c).
 */
import {
  PROTOCOL_VERSION,
  encodeFrame,
  tensorFromTyped,
  type DeltaAnnouncement,
  type ModelRef,
  type RoundRecord,
} from '@slimswarm/protocol';

/** One merged delta as the log keeps it: its author, its header (part 0 of 1) and its payload. */
export interface LoggedDelta {
  peer: string;
  header: DeltaAnnouncement;
  payload: Uint8Array;
}

export interface LoggedRound {
  round: number;
  /** g_round, the model the round started from. */
  baseModelSha256: string;
  /** g_{round+1}, the model its close produced. */
  modelSha256: string;
  /** The merged deltas' authors, in the record's order. */
  authors: readonly string[];
  /** The record frame, then one delta-announce frame per author: what a weight sync writes. */
  frames: readonly Uint8Array[];
  bytes: number;
}

/** The record frame and the delta frames of one closed round. */
export function encodeRoundRecord(
  jobId: string,
  r: Pick<LoggedRound, 'round' | 'baseModelSha256' | 'modelSha256'>,
  deltas: readonly LoggedDelta[],
): LoggedRound {
  const record: RoundRecord = {
    type: 'round-record',
    version: PROTOCOL_VERSION,
    jobId,
    round: r.round,
    baseModelSha256: r.baseModelSha256,
    modelSha256: r.modelSha256,
    authors: deltas.map((d) => d.peer),
  };
  const frames = [
    encodeFrame(record),
    ...deltas.map((d) =>
      encodeFrame(
        { ...d.header, part: { index: 0, count: 1 } },
        { part: tensorFromTyped('u8', [d.payload.length], d.payload) },
      ),
    ),
  ];
  return { ...r, authors: record.authors, frames, bytes: frames.reduce((n, f) => n + f.length, 0) };
}

export class DeltaLog {
  private records: LoggedRound[] = [];
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** Appends the next round; it must start from the model the last record ended with. */
  append(r: LoggedRound): void {
    const last = this.records.at(-1);
    if (last && (r.round !== last.round + 1 || r.baseModelSha256 !== last.modelSha256))
      throw new RangeError(`round ${r.round} does not follow round ${last.round} of the log`);
    this.records.push(r);
    this.total += r.bytes;
    // Always keep the newest record: without it the log would not even name the current model.
    while (this.total > this.maxBytes && this.records.length > 1) this.total -= this.records.shift()!.bytes;
  }

  /** Replaces the whole log (after adopting a replayed history). */
  replace(records: readonly LoggedRound[]): void {
    this.records = [];
    this.total = 0;
    for (const r of records) this.append(r);
  }

  /** The records from model `from` on, oldest first; [] when `from` is the newest model; null when the log does not hold it. */
  since(from: ModelRef): readonly LoggedRound[] | null {
    const last = this.records.at(-1);
    if (last && last.round + 1 === from.round && last.modelSha256 === from.modelSha256) return [];
    const i = this.records.findIndex((r) => r.round === from.round);
    if (i < 0 || this.records[i]!.baseModelSha256 !== from.modelSha256) return null;
    return this.records.slice(i);
  }

  /** Everything held, oldest first. */
  all(): readonly LoggedRound[] {
    return this.records;
  }

  /** The record of `round`, if held. */
  at(round: number): LoggedRound | undefined {
    const first = this.records[0];
    return first ? this.records[round - first.round] : undefined;
  }

  /** Authors merged in the last `rounds` records: the peers whose word counts in the resync rule. */
  recentAuthors(rounds: number): Set<string> {
    return new Set(this.records.slice(-rounds).flatMap((r) => r.authors));
  }

  get bytes(): number {
    return this.total;
  }
}
