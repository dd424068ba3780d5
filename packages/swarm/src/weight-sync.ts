/**
 * Weight sync, by history: a peer that joins late or finds its model out of step asks a neighbour for the
 * round records that lead from a model it trusts (`from`) to the neighbour's model, and replays them
 * (history-replay.ts). No weights travel and nothing is adopted on the sender's word.
 *
 * The responder writes the records exactly as its log holds them (one cached encoding per round), and a
 * gate bounds what syncs cost it: one at a time per remote peer, a few in all, and a pause per peer.
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  maxDeltaFrameBytes,
  trainableParamCount,
  type JobManifest,
  type ModelRef,
  type RoundRecord,
  type WeightSyncResponse,
} from '@slimswarm/protocol';
import type { Logger } from '@libp2p/interface';
import type { AdmittedPeers } from './admission.js';
import type { DeltaLog } from './delta-log.js';
import { decodeJobFrame } from './delta-verdict.js';
import { ReplayError, WeightSyncError } from './errors.js';
import { readRequest } from './frame-stream.js';
import { HistoryReplay, type RecordIn, type ReplayRoot } from './history-replay.js';
import type { ModelLayout } from './model-layout.js';
import type { FrameStream, SwarmNetwork } from './network.js';
import { SyncDeadline } from './sync-deadline.js';

/** What a weight sync may cost the peer that serves it. */
export interface SyncLimits {
  /** Syncs served at once, over all peers. */
  maxConcurrent: number;
  /** Least time between two syncs served to one peer (ms). */
  perPeerIntervalMs: number;
  /** Peers whose last sync time is remembered; the oldest are forgotten beyond it. */
  maxTrackedPeers: number;
}

export const DEFAULT_SYNC_LIMITS: SyncLimits = {
  maxConcurrent: 2,
  perPeerIntervalMs: 2_000,
  maxTrackedPeers: 1024,
};

/** Admits a sync or answers busy: bounded per peer and in total, with a bounded memory of who asked. */
export class SyncGate {
  private active = new Set<string>();
  private readonly lastAt = new Map<string, number>();

  constructor(private readonly limits: SyncLimits) {}

  /**
   * A release function when `remote` may sync now, else null. Release with served = true once records
   * were sent: only those count against the per-peer pause (a not-found costs nothing to answer).
   */
  enter(remote: string, now: number): ((served: boolean) => void) | null {
    const last = this.lastAt.get(remote);
    if (this.active.has(remote) || this.active.size >= this.limits.maxConcurrent) return null;
    if (last !== undefined && now - last < this.limits.perPeerIntervalMs) return null;
    this.active.add(remote);
    return (served) => {
      this.active.delete(remote);
      if (!served) return;
      this.lastAt.delete(remote); // re-inserted last: the map stays in the order peers last synced
      this.lastAt.set(remote, now);
      for (const peer of this.lastAt.keys()) {
        if (this.lastAt.size <= this.limits.maxTrackedPeers) break;
        this.lastAt.delete(peer);
      }
    };
  }
}

/** What a peer serves from: its model now (round and hash) and its log. */
export interface HistorySource {
  round: number;
  modelSha256: string;
  log: DeltaLog;
}

/** Answers weight-sync requests from `source()`'s log (not-found when it cannot reach `from`). */
export function serveWeightSync(
  net: SwarmNetwork,
  manifest: JobManifest,
  source: () => HistorySource | null,
  gate: SyncGate,
  log?: Logger,
): (stream: FrameStream, remote: string) => Promise<void> {
  return async (stream, remote) => {
    const request = await readRequest(
      stream,
      manifest,
      'weight-sync-request',
      AbortSignal.timeout(net.timings.streamTimeoutMs),
    );
    const deadline = new SyncDeadline(net.timings.streamTimeoutMs);
    const release = gate.enter(remote, Date.now());
    let served = false;
    try {
      const s = source();
      const asked = request.modelSha256;
      const { from } = request;
      const atTip = s !== null && from.round === s.round && from.modelSha256 === s.modelSha256;
      const records =
        s && (asked === null || asked === s.modelSha256) ? (atTip ? [] : s.log.since(from)) : null;
      const status: WeightSyncResponse['status'] = !release ? 'busy' : records ? 'ok' : 'not-found';
      log?.('weight sync for %s from round %d: %s', remote, request.from.round, status);
      if (status === 'ok') deadline.carry(records!.length);
      await stream.write(
        encodeFrame({
          type: 'weight-sync-response',
          version: PROTOCOL_VERSION,
          jobId: manifest.jobId,
          status,
          round: status === 'ok' ? s!.round : 0,
          modelSha256: status === 'ok' ? s!.modelSha256 : null,
          records: status === 'ok' ? records!.length : 0,
        }),
        deadline.next(),
      );
      if (status === 'ok')
        for (const r of records!) for (const f of r.frames) await stream.write(f, deadline.next());
      served = status === 'ok';
      await stream.close(deadline.next());
    } finally {
      release?.(served);
    }
  };
}

/** A model to sync: the hash asked for (null: whatever the peer holds) and the trusted model to replay from. */
export interface SyncAsk {
  asked: string | null;
  root: ReplayRoot & { modelSha256: string };
}

/** The largest frame a weight sync legitimately carries: one whole delta of this job (or a record). */
function maxSyncFrameBytes(manifest: JobManifest): number {
  return maxDeltaFrameBytes(trainableParamCount(manifest));
}

/**
 * Fetches the history from `ask.root` to `peer`'s model and replays it as it arrives (one round held at a
 * time). Throws ReplayError for a history that does not replay, and WeightSyncError for everything else
 * that ends the sync: a refusal, a bad answer, or a stream the peer or the connection dropped (the cause
 * kept), so a caller can tell "try again or elsewhere" from "this peer's history is wrong".
 */
export async function fetchHistory(
  net: SwarmNetwork,
  peer: string,
  ask: SyncAsk,
  manifest: JobManifest,
  layout: ModelLayout,
  admitted?: AdmittedPeers,
): Promise<HistoryReplay> {
  const deadline = new SyncDeadline(net.timings.streamTimeoutMs);
  const maxBytes = maxSyncFrameBytes(manifest);
  let stream: FrameStream | undefined;
  try {
    // Every frame of a sync is one record or one delta: a longer length prefix is refused before it is read.
    stream = await net.dial(peer, 'weightSync', deadline.next(), maxBytes);
    const replay = await replayOver(stream, deadline, ask, manifest, layout, maxBytes, admitted);
    await stream.close(deadline.next()).catch(() => {});
    return replay;
  } catch (err) {
    const failure =
      err instanceof ReplayError || err instanceof WeightSyncError
        ? err
        : new WeightSyncError(`the sync stream failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    stream?.abort(failure);
    throw failure;
  }
}

/** One sync over an open stream: the request, the answer, and each record replayed as it arrives. */
async function replayOver(
  stream: FrameStream,
  deadline: SyncDeadline,
  ask: SyncAsk,
  manifest: JobManifest,
  layout: ModelLayout,
  maxBytes: number,
  admitted?: AdmittedPeers,
): Promise<HistoryReplay> {
  const from: ModelRef = { round: ask.root.round, modelSha256: ask.root.modelSha256 };
  await stream.write(
    encodeFrame({
      type: 'weight-sync-request',
      version: PROTOCOL_VERSION,
      jobId: manifest.jobId,
      modelSha256: ask.asked,
      from,
    }),
    deadline.next(),
  );
  const next = async <T extends 'weight-sync-response' | 'round-record' | 'delta-announce'>(type: T) => {
    const bytes = await stream.read(deadline.next());
    if (!bytes) throw new WeightSyncError(`the stream ended before a ${type}`);
    const decoded = decodeJobFrame(bytes, manifest, type, maxBytes);
    if (!('frame' in decoded)) throw new WeightSyncError(`a ${type} was refused: ${decoded.reason}`);
    return { frame: decoded.frame, bytes };
  };
  const m = (await next('weight-sync-response')).frame.message as WeightSyncResponse;
  if (m.status !== 'ok' || m.modelSha256 === null) throw new WeightSyncError(`peer answered ${m.status}`);
  if (ask.asked !== null && m.modelSha256 !== ask.asked)
    throw new WeightSyncError('peer offers another model than asked for');
  // Records are contiguous from `from` to the peer's round: their count is not the peer's to choose.
  if (m.round < from.round || m.records !== m.round - from.round)
    throw new WeightSyncError(
      `peer offers ${m.records} records from round ${from.round} to round ${m.round}`,
    );
  deadline.carry(m.records);
  const replay = new HistoryReplay(manifest, layout, ask.root, admitted);
  for (let i = 0; i < m.records; i++) {
    const head = await next('round-record');
    const record = head.frame.message as RoundRecord;
    const deltas: RecordIn['deltas'] = [];
    for (let j = 0; j < Math.min(record.authors.length, PROTOCOL_LIMITS.maxSummaryEntries); j++)
      deltas.push(await next('delta-announce'));
    replay.apply({ record, recordBytes: head.bytes, deltas });
  }
  if (replay.state.modelSha256 !== m.modelSha256 || replay.round !== m.round)
    throw new WeightSyncError(
      `the history leads to ${replay.state.modelSha256}, the peer claims ${m.modelSha256}`,
    );
  return replay;
}
