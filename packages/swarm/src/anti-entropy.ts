/**
 * Anti-entropy: every peer periodically gossips a summary — its round, model hash, past models' hashes and
 * the deltas it holds for the open rounds. A neighbour's summary (1) updates what this peer knows of it
 * (the resync rule reads those views) and (2) names deltas this peer lacks, which it pulls over a stream
 * from that neighbour. Every pulled delta passes the same verdict as gossip, under its author's name: the
 * neighbour only carries it. A summary whose stamp does not admit its sender is refused: neither its view
 * (the resync rule's votes) nor its refs (pulls) are taken.
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  tensorFromTyped,
  topics,
  type AntiEntropySummary,
  type DecodedFrame,
  type DeltaRef,
  type JobManifest,
} from '@slimswarm/protocol';
import type { Logger } from '@libp2p/interface';
import type { JobAdmission } from './admission.js';
import { decodeJobFrame, rejected } from './delta-verdict.js';
import { DeltaPullError } from './errors.js';
import { readRequest } from './frame-stream.js';
import type { FrameStream, GossipIn, GossipVerdict, SwarmNetwork } from './network.js';
import type { NeighbourView } from './resync.js';
import type { RoundState, Verdict } from './round-state.js';

export interface AntiEntropyHooks {
  /** The round state deltas are judged against; null while this peer has no model or is syncing. */
  rounds(): RoundState | null;
  /** Offers a pulled delta (author = who made it) exactly as a gossiped one is offered. */
  offer(frame: DecodedFrame, author: string, via: 'pull'): Verdict;
  /** A neighbour names a delta of an author this peer banned: it has not seen the evidence. */
  remind?(author: string): void;
}

export class AntiEntropy {
  /** Latest (round, model, past models) each neighbour announced. */
  readonly views = new Map<string, NeighbourView>();
  private readonly topic: string;
  private readonly pulling = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    private readonly admission: JobAdmission,
    private readonly hooks: AntiEntropyHooks,
  ) {
    this.topic = topics.summaries(manifest.jobId);
    this.log = net.logger.forComponent('slimswarm:swarm:anti-entropy');
  }

  start(): void {
    this.net.subscribe(this.topic, (msg) => this.onSummary(msg));
    this.net.serve('antiEntropy', (stream) => this.serve(stream));
  }

  stop(): void {
    this.net.unsubscribe(this.topic);
    this.net.serve('antiEntropy', null);
  }

  summary(rounds: RoundState): AntiEntropySummary {
    return {
      type: 'anti-entropy-summary',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      round: rounds.round,
      modelSha256: rounds.modelSha256,
      pastModels: rounds.pastModels,
      deltas: rounds.refs().slice(0, PROTOCOL_LIMITS.maxSummaryEntries),
      admission: this.admission.stamp,
    };
  }

  async publish(): Promise<void> {
    const rounds = this.hooks.rounds();
    if (rounds) await this.net.publish(this.topic, encodeFrame(this.summary(rounds)));
  }

  /** Records the neighbour's view and pulls what it holds that this peer lacks (in the background). */
  onSummary(msg: GossipIn, now = Date.now()): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'anti-entropy-summary');
    if (!('frame' in decoded)) return decoded;
    const s = decoded.frame.message as AntiEntropySummary;
    if (!this.admission.peers.admits(msg.from, s.admission)) return rejected('not-admitted');
    this.views.set(msg.from, {
      round: s.round,
      modelSha256: s.modelSha256,
      pastModels: s.pastModels,
      at: now,
    });
    const rounds = this.hooks.rounds();
    if (rounds) {
      for (const r of s.deltas) if (rounds.isBanned(r.peer)) this.hooks.remind?.(r.peer);
      // Also a delta whose author sent this peer another one for that round: the pull brings the proof.
      const missing = s.deltas.filter(
        (r) =>
          (r.round === rounds.round || r.round === rounds.round + 1) &&
          r.peer !== this.net.selfId &&
          !rounds.isBanned(r.peer) &&
          !rounds.get(r),
      );
      if (missing.length > 0) void this.pull(msg.from, missing);
    }
    return { action: 'accept' };
  }

  /** Pulls `refs` from `from`; each answer is offered under its author's name, refusals count against `from`. */
  async pull(from: string, refs: DeltaRef[]): Promise<void> {
    const key = (r: DeltaRef) => `${r.peer}/${r.round}`;
    const wanted = refs.filter((r) => !this.pulling.has(key(r)));
    if (wanted.length === 0) return;
    for (const r of wanted) this.pulling.add(key(r));
    const signal = AbortSignal.timeout(this.net.timings.streamTimeoutMs);
    try {
      const stream = await this.net.dial(from, 'antiEntropy', signal);
      await stream.write(
        encodeFrame({
          type: 'delta-pull',
          version: PROTOCOL_VERSION,
          jobId: this.manifest.jobId,
          refs: wanted,
        }),
        signal,
      );
      for (let bytes = await stream.read(signal); bytes; bytes = await stream.read(signal)) {
        const decoded = decodeJobFrame(
          bytes,
          this.manifest,
          'delta-announce',
          PROTOCOL_LIMITS.maxStreamFrameBytes,
        );
        if (!('frame' in decoded)) {
          this.net.counters.refused(from, decoded);
          throw new DeltaPullError(`${from} answered a pull with a frame that does not decode`);
        }
        const m = decoded.frame.message;
        const ref =
          m.type === 'delta-announce' && m.part.count === 1
            ? wanted.find((r) => r.round === m.round && r.payloadSha256 === m.payloadSha256)
            : undefined;
        if (!ref) throw new DeltaPullError(`${from} answered a pull with something not asked for`);
        if (!this.hooks.rounds()) break;
        const v = this.hooks.offer(decoded.frame, ref.peer, 'pull');
        // The responder only carries the delta: an equivocation or a ban is its author's doing.
        const authorsFault = v.action === 'reject' && (v.reason === 'equivocation' || v.reason === 'banned');
        if (v.action !== 'accept') this.net.counters.refused(authorsFault ? ref.peer : from, v);
      }
      await stream.close(signal);
    } catch (err) {
      this.log.error('pull from %s failed: %e', from, err);
    } finally {
      for (const r of wanted) this.pulling.delete(key(r));
    }
  }

  /** Answers one pull: every asked-for delta this peer holds, whole, as part 0 of 1. */
  async serve(stream: FrameStream): Promise<void> {
    const signal = AbortSignal.timeout(this.net.timings.streamTimeoutMs);
    const request = await readRequest(stream, this.manifest, 'delta-pull', signal);
    const rounds = this.hooks.rounds();
    for (const ref of request.refs) {
      const d = rounds?.get(ref);
      if (d)
        await stream.write(
          encodeFrame(d.header, { part: tensorFromTyped('u8', [d.payload.length], d.payload) }),
          signal,
        );
    }
    await stream.close(signal);
  }
}
