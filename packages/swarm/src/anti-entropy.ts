/**
 * Anti-entropy: every peer periodically gossips a summary — its round, model hash, past models' hashes and
 * the deltas it holds for the open rounds. A neighbour's summary (1) updates what this peer knows of it
 * (the resync rule reads those views) and (2) names deltas this peer lacks, which it pulls over a stream
 * from that neighbour. Every pulled delta passes the same verdict as gossip, under its author's name: the
 * neighbour only carries it. A summary whose stamp does not admit its sender is refused: neither its view
 * (the resync rule's votes) nor its refs (pulls) are taken.
 *
 * Neither side lets the other make it do more than a bounded amount of work: a pull asks only for refs
 * this peer lacks, each once; an answer frame is refused by its length prefix beyond the largest legal
 * delta frame; a responder answers each distinct held ref once, up to `maxPullAnswerBytes`; and both sides
 * run at most a few pulls at once (per remote peer and in all).
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  maxDeltaFrameBytes,
  tensorFromTyped,
  trainableParamCount,
  topics,
  type AntiEntropySummary,
  type DecodedFrame,
  type DeltaRef,
  type JobManifest,
} from '@slimswarm/protocol';
import type { Logger } from '@libp2p/interface';
import type { JobAdmission } from './admission.js';
import { BoundedMap } from './bounded-map.js';
import { decodeJobFrame, ignored, rejected } from './delta-verdict.js';
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

/** `${author}/${round}`: one delta slot (a second payload for it would be an equivocation). */
const slot = (r: DeltaRef) => `${r.peer}/${r.round}`;

export class AntiEntropy {
  /** Latest (round, model, past models) each neighbour announced; silent ones leave after peerTimeoutMs. */
  readonly views: BoundedMap<string, NeighbourView>;
  private readonly topic: string;
  /** Slots being pulled now, and how many pulls run. */
  private readonly pulling = new Set<string>();
  private pullsOut = 0;
  /** Pulls being served, per remote peer. */
  private readonly serving = new Map<string, number>();
  private servingTotal = 0;
  private readonly log: Logger;

  constructor(
    private readonly net: SwarmNetwork,
    private readonly manifest: JobManifest,
    private readonly admission: JobAdmission,
    private readonly hooks: AntiEntropyHooks,
  ) {
    this.topic = topics.summaries(manifest.jobId);
    this.log = net.logger.forComponent('slimswarm:swarm:anti-entropy');
    this.views = new BoundedMap(net.timings.maxPeersTracked);
  }

  start(): void {
    this.net.subscribe(this.topic, (msg) => this.onSummary(msg));
    this.net.serve('antiEntropy', (stream, remote) => this.serve(stream, remote));
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
    this.views.dropOldestWhile((v) => now - v.at > this.manifest.round.peerTimeoutMs);
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
      // Only from a sender this peer is connected to: a dial to an unreachable id (a Sybil that only
      // publishes through another node) would hold one of the few pull slots the honest pulls need.
      if (missing.length > 0 && this.net.connectedPeers().includes(msg.from))
        void this.pull(msg.from, missing);
    }
    return { action: 'accept' };
  }

  /**
   * Pulls `refs` from `from` — each slot once, none already being pulled, at most `maxPullsOut` pulls at
   * once (a ref left out now is named again by the next summary); each answer is offered under its
   * author's name, refusals count against `from`.
   */
  async pull(from: string, refs: DeltaRef[]): Promise<void> {
    const wanted = new Map<string, DeltaRef>();
    for (const r of refs) if (!this.pulling.has(slot(r))) wanted.set(slot(r), r);
    if (wanted.size === 0 || this.pullsOut >= this.net.timings.maxPullsOut) return;
    this.pullsOut++;
    const slots = [...wanted.keys()];
    for (const k of slots) this.pulling.add(k);
    const signal = AbortSignal.timeout(this.net.timings.streamTimeoutMs);
    const maxFrame = maxDeltaFrameBytes(trainableParamCount(this.manifest));
    let stream: FrameStream | null = null;
    try {
      stream = await this.net.dial(from, 'antiEntropy', signal, maxFrame);
      await stream.write(
        encodeFrame({
          type: 'delta-pull',
          version: PROTOCOL_VERSION,
          jobId: this.manifest.jobId,
          refs: [...wanted.values()],
        }),
        signal,
      );
      for (let bytes = await stream.read(signal); bytes; bytes = await stream.read(signal)) {
        const decoded = decodeJobFrame(bytes, this.manifest, 'delta-announce', maxFrame);
        if (!('frame' in decoded)) {
          this.net.counters.refused(from, decoded);
          throw new DeltaPullError(`${from} answered a pull with a frame that does not decode`);
        }
        const m = decoded.frame.message;
        // Each asked-for ref is answered once: a repeat, or anything else, ends the pull.
        const ref =
          m.type === 'delta-announce' && m.part.count === 1
            ? [...wanted.values()].find((r) => r.round === m.round && r.payloadSha256 === m.payloadSha256)
            : undefined;
        if (!ref) throw new DeltaPullError(`${from} answered a pull with something not asked for`);
        wanted.delete(slot(ref));
        if (!this.hooks.rounds()) break;
        const v = this.hooks.offer(decoded.frame, ref.peer, 'pull');
        // The responder only carries the delta: an equivocation or a ban is its author's doing.
        const authorsFault = v.action === 'reject' && (v.reason === 'equivocation' || v.reason === 'banned');
        if (v.action !== 'accept') this.net.counters.refused(authorsFault ? ref.peer : from, v);
      }
      await stream.close(signal);
    } catch (err) {
      this.log.error('pull from %s failed: %e', from, err);
      // Hang up: whatever the responder still sends is dropped unread.
      stream?.abort(err as Error);
    } finally {
      for (const k of slots) this.pulling.delete(k);
      this.pullsOut--;
    }
  }

  /**
   * Answers one pull: every distinct asked-for delta this peer holds, once, whole, as part 0 of 1, until the
   * answer reaches `maxPullAnswerBytes` (the first always goes). Beyond `maxPullsPerPeer` pulls from one
   * remote peer, or `maxPullsServed` in all, the stream is hung up on unanswered.
   */
  async serve(stream: FrameStream, remote: string): Promise<void> {
    const { maxPullsPerPeer, maxPullsServed, maxPullAnswerBytes, streamTimeoutMs } = this.net.timings;
    const mine = this.serving.get(remote) ?? 0;
    if (mine >= maxPullsPerPeer || this.servingTotal >= maxPullsServed) {
      this.net.counters.refused(remote, ignored('busy'));
      stream.abort(
        new DeltaPullError(`already serving ${mine} pulls to ${remote}, ${this.servingTotal} in all`),
      );
      return;
    }
    this.serving.set(remote, mine + 1);
    this.servingTotal++;
    try {
      const signal = AbortSignal.timeout(streamTimeoutMs);
      const request = await readRequest(stream, this.manifest, 'delta-pull', signal);
      const rounds = this.hooks.rounds();
      const asked = new Map(request.refs.map((r) => [`${slot(r)}/${r.payloadSha256}`, r]));
      let sent = 0;
      for (const ref of asked.values()) {
        const d = rounds?.get(ref);
        if (!d) continue;
        const frame = encodeFrame(d.header, { part: tensorFromTyped('u8', [d.payload.length], d.payload) });
        if (sent > 0 && sent + frame.length > maxPullAnswerBytes) break;
        await stream.write(frame, signal);
        sent += frame.length;
      }
      await stream.close(signal);
    } finally {
      const left = (this.serving.get(remote) ?? 1) - 1;
      if (left > 0) this.serving.set(remote, left);
      else this.serving.delete(remote);
      this.servingTotal--;
    }
  }
}
