/**
 * What a flood attacker knows of the honest swarm, from the anti-entropy summaries every peer gossips
 * (what any participant receives): each peer's round, model hash, past models and the deltas it holds.
 * The floods aim at the open round with it — a part for the next round, a pull for deltas the peer holds.
 */
import {
  PROTOCOL_LIMITS,
  decodeFrame,
  topics,
  type AntiEntropySummary,
  type DeltaRef,
  type JobManifest,
} from '@slimswarm/protocol';
import type { SwarmService } from '@slimswarm/swarm';

/** A summary older than this no longer says where a peer is (summaries come every 3 s). */
const FRESH_MS = 10_000;

interface Seen {
  summary: AntiEntropySummary;
  at: number;
}

export class HonestView {
  private readonly byPeer = new Map<string, Seen>();
  /** Honest deltas seen on the delta topic, by round: what every honest peer holds until that round closes. */
  private readonly deltas = new Map<number, Map<string, DeltaRef>>();

  /**
   * Listens on the job's summary topic through `swarm` (the attacker's own node). `ours` are the
   * identities the attacker publishes as, whose summaries gossip may hand back: they are not honest.
   */
  constructor(
    private readonly manifest: JobManifest,
    swarm: SwarmService,
    private readonly ours: (peer: string) => boolean,
  ) {
    swarm.subscribe(topics.summaries(manifest.jobId), (msg) => {
      if (!this.ours(msg.from)) {
        try {
          const { message } = decodeFrame(msg.data, {
            maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes,
            jobId: manifest.jobId,
          });
          if (message.type === 'anti-entropy-summary')
            this.byPeer.set(msg.from, { summary: message, at: Date.now() });
        } catch {
          // not ours to judge: the honest peers refuse it themselves
        }
      }
      // Ignore: the attacker's node relays nothing honest (its own messages are what it measures).
      return { action: 'ignore', reason: 'duplicate' };
    });
    swarm.subscribe(topics.deltas(manifest.jobId), (msg) => {
      if (!this.ours(msg.from)) this.onDelta(msg.from, msg.data);
      return { action: 'ignore', reason: 'duplicate' };
    });
  }

  private onDelta(author: string, data: Uint8Array): void {
    try {
      const { message: m } = decodeFrame(data, {
        maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes,
        jobId: this.manifest.jobId,
      });
      if (m.type !== 'delta-announce') return;
      const byAuthor = this.deltas.get(m.round) ?? new Map<string, DeltaRef>();
      byAuthor.set(author, { round: m.round, peer: author, payloadSha256: m.payloadSha256 });
      this.deltas.set(m.round, byAuthor);
      for (const round of this.deltas.keys()) if (round < m.round - 2) this.deltas.delete(round);
    } catch {
      // not a delta of this job
    }
  }

  /** Fresh summaries by honest peer. */
  fresh(now = Date.now()): [string, AntiEntropySummary][] {
    return [...this.byPeer].flatMap(([peer, s]) => (now - s.at <= FRESH_MS ? [[peer, s.summary]] : []));
  }

  /** The latest round any honest peer announced, with the model most of them hold there; null before any. */
  current(
    now = Date.now(),
  ): { round: number; modelSha256: string; pastModels: AntiEntropySummary['pastModels'] } | null {
    const views = this.fresh(now).map(([, s]) => s);
    if (views.length === 0) return null;
    const round = Math.max(...views.map((s) => s.round));
    const at = views.filter((s) => s.round === round);
    const votes = new Map<string, number>();
    for (const s of at) votes.set(s.modelSha256, (votes.get(s.modelSha256) ?? 0) + 1);
    const modelSha256 = [...votes].sort((a, b) => b[1] - a[1])[0]![0];
    return { round, modelSha256, pastModels: at.find((s) => s.modelSha256 === modelSha256)!.pastModels };
  }

  /** The honest peers heard from, fresh or not (stream floods aim at each). */
  peers(): string[] {
    return [...this.byPeer.keys()];
  }

  /**
   * The deltas every honest peer likely holds now: each honest delta gossiped for the open round or the
   * next (a round's deltas are held from their arrival until it closes; summaries name them only by
   * digest, so no peer's own list is known).
   */
  openRefs(): DeltaRef[] {
    const round = this.current()?.round ?? 0;
    const refs = new Map<string, DeltaRef>();
    const add = (r: DeltaRef) => refs.set(`${r.peer}/${r.round}/${r.payloadSha256}`, r);
    for (const r of [round, round + 1]) for (const ref of this.deltas.get(r)?.values() ?? []) add(ref);
    return [...refs.values()];
  }
}
