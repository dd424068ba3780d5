/**
 * Anti-entropy: every peer periodically gossips a summary — its round, model hash, past models' hashes and,
 * for its open round and the next, how many deltas it holds and a digest of their refs (never the refs
 * themselves, so a summary's size does not grow with the swarm). A neighbour's summary (1) updates what
 * this peer knows of it (the resync rule reads those views) and (2), where a digest differs from this
 * peer's own for a round both have open, makes its sender a candidate: once a period this peer asks a few
 * candidates (ref-list-candidates.ts) for their refs over the anti-entropy stream and pulls the deltas it
 * lacks from them. Every pulled delta passes the same verdict as gossip, under its author's name: the
 * neighbour only carries it. A summary whose stamp does not admit its sender is refused: neither its view
 * (the resync rule's votes) nor its digests (ref lists, pulls) are taken.
 *
 * Neither side lets the other make it do more than a bounded amount of work: this peer asks for at most
 * `refListsPerPeriod` ref lists a period, and a sender whose list brought nothing is not asked again for
 * REST_PERIODS periods; a pull asks only for refs this peer lacks, each once; an answer frame is refused by
 * its length prefix beyond the largest legal frame; a responder serves at most `maxRefListsPerPeer` ref
 * lists a period to one peer (`maxRefListsServed` to all), answers each distinct held ref once, up to
 * `maxPullAnswerBytes`; and both sides run at most a few exchanges at once (per remote peer and in all).
 */
import {
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  heldRounds,
  maxDeltaFrameBytes,
  sortRefs,
  tensorFromTyped,
  trainableParamCount,
  topics,
  type AntiEntropySummary,
  type DecodedFrame,
  type DeltaRef,
  type DeltaRefsRequest,
  type DeltaPullRequest,
  type HeldRound,
  type JobManifest,
} from '@slimswarm/protocol';
import type { Logger } from '@libp2p/interface';
import type { JobAdmission } from './admission.js';
import { BoundedMap } from './bounded-map.js';
import { decodeJobFrame, ignored, rejected } from './delta-verdict.js';
import { DeltaPullError } from './errors.js';
import { readRequest } from './frame-stream.js';
import type { FrameStream, GossipIn, GossipVerdict, SwarmNetwork } from './network.js';
import { RefListCandidates } from './ref-list-candidates.js';
import type { NeighbourView } from './resync.js';
import type { RoundState, Verdict } from './round-state.js';

export interface AntiEntropyHooks {
  /** The round state deltas are judged against; null while this peer has no model or is syncing. */
  rounds(): RoundState | null;
  /** Offers a pulled delta (author = who made it) exactly as a gossiped one is offered. */
  offer(frame: DecodedFrame, author: string, via: 'pull'): Verdict;
  /** A neighbour names a delta of an author this peer banned: it has not seen the evidence. */
  remind?(author: string): void;
  /** How much the timed channels are stretched now (timed-spread.ts); 1 if absent. */
  spread?(): number;
}

/** `${author}/${round}`: one delta slot (a second payload for it would be an equivocation). */
const slot = (r: DeltaRef) => `${r.peer}/${r.round}`;

/** Periods a sender whose ref list brought nothing this peer lacked is not asked again. */
const REST_PERIODS = 4;

export class AntiEntropy {
  /** Latest (round, model, past models) each neighbour announced; silent ones leave after peerTimeoutMs, stretched. */
  readonly views: BoundedMap<string, NeighbourView>;
  private readonly topic: string;
  /** Slots being pulled now, and how many pulls run. */
  private readonly pulling = new Set<string>();
  private pullsOut = 0;
  /** Pulls being served, per remote peer. */
  private readonly serving = new Map<string, number>();
  private servingTotal = 0;
  /** Senders to ask for their refs at the next period, and the ref lists being fetched now. */
  private readonly candidates: RefListCandidates;
  private listsOut = 0;
  /** Ref lists served in the current period, per remote peer and in all, and when the period began. */
  private listsServed = new Map<string, number>();
  private listsServedTotal = 0;
  private listsPeriodStart = 0;
  /** This peer's own `held` for its open rounds, recomputed only when its refs change. */
  private own: { state: RoundState; version: number; held: [HeldRound, HeldRound] } | null = null;
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
    this.candidates = new RefListCandidates(net.timings.maxPeersTracked);
  }

  private spread(): number {
    return this.hooks.spread?.() ?? 1;
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
      held: this.ownHeld(rounds),
      admission: this.admission.stamp,
    };
  }

  async publish(): Promise<void> {
    const rounds = this.hooks.rounds();
    if (rounds) await this.net.publish(this.topic, encodeFrame(this.summary(rounds)));
  }

  /**
   * Records the neighbour's view; where its digest for a round this peer has open differs from this
   * peer's own and it claims at least as many refs, notes its sender as one to ask for them (`reconcile`).
   */
  onSummary(msg: GossipIn, now = Date.now()): GossipVerdict {
    const decoded = decodeJobFrame(msg.data, this.manifest, 'anti-entropy-summary');
    if (!('frame' in decoded)) return decoded;
    const s = decoded.frame.message as AntiEntropySummary;
    if (!this.admission.peers.admits(msg.from, s.admission)) return rejected('not-admitted');
    const freshMs = this.manifest.round.peerTimeoutMs * this.spread();
    this.views.dropOldestWhile((v) => now - v.at > freshMs);
    this.views.set(msg.from, {
      round: s.round,
      modelSha256: s.modelSha256,
      pastModels: s.pastModels,
      at: now,
    });
    const rounds = this.hooks.rounds();
    // Only a sender this peer is connected to: a dial to an unreachable id (a Sybil that only publishes
    // through another node) would hold one of the few exchanges the honest ones need.
    if (rounds && this.net.connectedPeers().includes(msg.from)) {
      const mine = this.ownHeld(rounds);
      const differ: number[] = [];
      let claimed = 0;
      for (const [i, theirs] of s.held.entries()) {
        const round = s.round + i;
        const ours = mine[round - rounds.round];
        // A sender holding fewer refs than this peer is not asked: it lacks some of ours, and once it has
        // pulled them (from this peer's summary) its count is at least ours, and then it is.
        if (!ours || theirs.count < ours.count || theirs.digest === ours.digest) continue;
        differ.push(round);
        claimed += theirs.count;
      }
      if (differ.length > 0) this.candidates.note({ from: msg.from, rounds: differ, claimed });
    }
    return { action: 'accept' };
  }

  /**
   * Once a period: asks the chosen candidates for their refs (in the background), at most
   * `refListsPerPeriod` exchanges running at once.
   */
  reconcile(now = Date.now()): void {
    const free = this.net.timings.refListsPerPeriod - this.listsOut;
    if (free <= 0 || !this.hooks.rounds()) return;
    for (const c of this.candidates.choose(free, now)) void this.fetchRefs(c.from, c.rounds);
  }

  /**
   * Asks `from` for its refs of `rounds`, then pulls from it those this peer lacks; a sender that brought
   * nothing (or failed) rests for REST_PERIODS periods. Returns the deltas accepted from it.
   */
  async fetchRefs(from: string, rounds: number[]): Promise<number> {
    this.listsOut++;
    let accepted = 0;
    // No pull slot free: what it lists is asked for again later, it has not been asked in vain.
    let busy = false;
    try {
      const refs = await this.askRefs(from, rounds);
      const state = this.hooks.rounds();
      if (!state) return 0;
      for (const r of refs) if (state.isBanned(r.peer)) this.hooks.remind?.(r.peer);
      // Also a delta whose author sent this peer another one for that round: the pull brings the proof.
      const missing = refs.filter(
        (r) =>
          (r.round === state.round || r.round === state.round + 1) &&
          r.peer !== this.net.selfId &&
          !state.isBanned(r.peer) &&
          !state.get(r),
      );
      if (missing.length > 0 && this.pullsOut >= this.net.timings.maxPullsOut) busy = true;
      else if (missing.length > 0) accepted = await this.pull(from, missing);
    } catch (err) {
      this.log.error('ref list from %s failed: %e', from, err);
    } finally {
      this.listsOut--;
      // The rest runs from the end of the exchange, however long it took.
      if (accepted === 0 && !busy)
        this.candidates.rest(
          from,
          Date.now() + REST_PERIODS * this.net.timings.antiEntropyIntervalMs * this.spread(),
        );
    }
    return accepted;
  }

  /** One delta-refs exchange: the refs `from` holds for `rounds`, each of one of them. */
  private async askRefs(from: string, rounds: number[]): Promise<DeltaRef[]> {
    const signal = AbortSignal.timeout(this.net.timings.streamTimeoutMs);
    let stream: FrameStream | null = null;
    try {
      stream = await this.net.dial(from, 'antiEntropy', signal, PROTOCOL_LIMITS.maxGossipFrameBytes);
      const request: DeltaRefsRequest = {
        type: 'delta-refs-request',
        version: PROTOCOL_VERSION,
        jobId: this.manifest.jobId,
        rounds,
      };
      await stream.write(encodeFrame(request), signal);
      const bytes = await stream.read(signal);
      if (!bytes) throw new DeltaPullError(`${from} hung up without its refs`);
      const decoded = decodeJobFrame(bytes, this.manifest, 'delta-refs');
      if (!('frame' in decoded)) {
        this.net.counters.refused(from, decoded);
        throw new DeltaPullError(`${from} answered a ref-list request with a frame that does not decode`);
      }
      const m = decoded.frame.message;
      if (m.type !== 'delta-refs' || m.refs.some((r) => !rounds.includes(r.round))) {
        this.net.counters.refused(from, rejected('malformed'));
        throw new DeltaPullError(`${from} answered a ref-list request with refs of rounds not asked for`);
      }
      await stream.close(signal);
      return m.refs;
    } catch (err) {
      stream?.abort(err as Error);
      throw err;
    }
  }

  /**
   * Pulls `refs` from `from` — each slot once, none already being pulled, at most `maxPullsOut` pulls at
   * once (a ref left out now is named again by a later ref list); each answer is offered under its
   * author's name, refusals count against `from`. Returns how many answers were accepted.
   */
  async pull(from: string, refs: DeltaRef[]): Promise<number> {
    const wanted = new Map<string, DeltaRef>();
    for (const r of refs) if (!this.pulling.has(slot(r))) wanted.set(slot(r), r);
    if (wanted.size === 0 || this.pullsOut >= this.net.timings.maxPullsOut) return 0;
    this.pullsOut++;
    const slots = [...wanted.keys()];
    for (const k of slots) this.pulling.add(k);
    const signal = AbortSignal.timeout(this.net.timings.streamTimeoutMs);
    const maxFrame = maxDeltaFrameBytes(trainableParamCount(this.manifest));
    let stream: FrameStream | null = null;
    let accepted = 0;
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
        if (v.action === 'accept') accepted++;
        else this.net.counters.refused(authorsFault ? ref.peer : from, v);
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
    return accepted;
  }

  /**
   * Answers one request: a ref list (within this period's `maxRefListsPerPeer` for `remote` and
   * `maxRefListsServed` in all), or a pull. Beyond `maxPullsPerPeer` exchanges with one remote peer at
   * once, or `maxPullsServed` in all, or beyond the period's ref lists, the stream is hung up on unanswered.
   */
  async serve(stream: FrameStream, remote: string, now = Date.now()): Promise<void> {
    const { maxPullsPerPeer, maxPullsServed, streamTimeoutMs } = this.net.timings;
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
      const request = await readRequest(stream, this.manifest, ['delta-refs-request', 'delta-pull'], signal);
      if (request.type === 'delta-pull') await this.answerPull(stream, request, signal);
      else if (this.takeRefListSlot(remote, now)) await this.answerRefs(stream, request, signal);
      else {
        this.net.counters.refused(remote, ignored('busy'));
        stream.abort(new DeltaPullError(`served ${remote} its ref lists for this period`));
        return;
      }
      await stream.close(signal);
    } finally {
      const left = (this.serving.get(remote) ?? 1) - 1;
      if (left > 0) this.serving.set(remote, left);
      else this.serving.delete(remote);
      this.servingTotal--;
    }
  }

  /** Counts one ref list served to `remote` in the period of `now`, if its limits allow one more. */
  private takeRefListSlot(remote: string, now: number): boolean {
    const { antiEntropyIntervalMs, maxRefListsPerPeer, maxRefListsServed } = this.net.timings;
    if (now - this.listsPeriodStart >= antiEntropyIntervalMs) {
      this.listsPeriodStart = now;
      this.listsServed = new Map();
      this.listsServedTotal = 0;
    }
    const served = this.listsServed.get(remote) ?? 0;
    if (served >= maxRefListsPerPeer || this.listsServedTotal >= maxRefListsServed) return false;
    this.listsServed.set(remote, served + 1);
    this.listsServedTotal++;
    return true;
  }

  /** The refs this peer holds for the asked rounds, as its summary's digests hash them. */
  private async answerRefs(
    stream: FrameStream,
    request: DeltaRefsRequest,
    signal: AbortSignal,
  ): Promise<void> {
    const rounds = this.hooks.rounds();
    const refs = rounds ? this.listed(rounds).filter((r) => request.rounds.includes(r.round)) : [];
    await stream.write(
      encodeFrame({ type: 'delta-refs', version: PROTOCOL_VERSION, jobId: this.manifest.jobId, refs }),
      signal,
    );
  }

  /**
   * Every distinct asked-for delta this peer holds, once, whole, as part 0 of 1, until the answer reaches
   * `maxPullAnswerBytes` (the first always goes).
   */
  private async answerPull(
    stream: FrameStream,
    request: DeltaPullRequest,
    signal: AbortSignal,
  ): Promise<void> {
    const rounds = this.hooks.rounds();
    const asked = new Map(request.refs.map((r) => [`${slot(r)}/${r.payloadSha256}`, r]));
    let sent = 0;
    for (const ref of asked.values()) {
      const d = rounds?.get(ref);
      if (!d) continue;
      const frame = encodeFrame(d.header, { part: tensorFromTyped('u8', [d.payload.length], d.payload) });
      if (sent > 0 && sent + frame.length > this.net.timings.maxPullAnswerBytes) break;
      await stream.write(frame, signal);
      sent += frame.length;
    }
  }

  /** The refs a summary's digests and a ref list cover: sorted, at most `maxSummaryEntries`. */
  private listed(rounds: RoundState): DeltaRef[] {
    return sortRefs(rounds.refs()).slice(0, PROTOCOL_LIMITS.maxSummaryEntries);
  }

  /**
   * This peer's `held` for its open round and the next. Every summary received is compared with it, so it
   * is hashed again only when the refs change, not once per summary.
   */
  private ownHeld(rounds: RoundState): [HeldRound, HeldRound] {
    const { own } = this;
    if (own?.state === rounds && own.version === rounds.refsVersion) return own.held;
    this.own = {
      state: rounds,
      version: rounds.refsVersion,
      held: heldRounds(rounds.round, this.listed(rounds)),
    };
    return this.own.held;
  }
}
