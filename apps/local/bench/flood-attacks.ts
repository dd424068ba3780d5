/**
 * The resource floods, one loop each, run by flood-attacker.ts until its signal aborts. Gossip floods
 * publish as Sybil identities through the attacker's one node (sybils.ts); stream floods open many
 * concurrent streams on several connections. What each one aims at in today's code:
 *
 *   partial-parts          RoundState.partial: `rate` fresh Sybils a second each send part 0 of 2 for the
 *                          open round and for the next; every part is copied and held until its round is
 *                          over (≈ half the largest payload each), and gossiped on by every honest peer
 *   pull-amplification     AntiEntropy.serve: one pull of the same held ref ×512 makes the peer encode and
 *                          send that delta 512 times
 *   weight-sync-storm      serveWeightSync: every request encodes and sends the whole model and momentum
 *   heartbeat-inflation    Liveness: Sybils that say `training` count as active trainers; with
 *                          quorumFraction 1 no round reaches its quorum and each waits for its deadline
 *   summary-churn          AntiEntropy.views (one entry per author, never dropped), the summary decode,
 *                          a pull dialled to each unknown author, resyncs towards random models
 *   resync-storm           the resync rule: Sybils, a strict majority of every honest peer's fresh
 *                          neighbours, announce a forged model far ahead; the attacker's node announces it
 *                          too and serves it over weight sync, hashed as announced (-distinct: every Sybil
 *                          names its own hash; the node's model, a round later, wins the tie)
 */
import {
  PROTOCOL_LIMITS,
  topics,
  type AdmissionStamp,
  type JobManifest,
  type PastModels,
} from '@slimswarm/protocol';
import type { StreamProtocol, SwarmPeer } from '@slimswarm/swarm';
import { sleep } from './attacker-join.js';
import {
  forgedHistory,
  partialPart,
  partialShape,
  pullRequest,
  randomSha256,
  summary,
  trainingHeartbeat,
  weightSyncRequest,
  type forgedWeights,
} from './flood-vectors.js';
import type { HonestView } from './honest-view.js';
import { makeSybil, publishAs, type Sybil } from './sybils.js';

export const FLOODS = [
  'partial-parts',
  'pull-amplification',
  'weight-sync-storm',
  'heartbeat-inflation',
  'summary-churn',
  'resync-storm',
  'resync-storm-distinct',
] as const;
export type FloodName = (typeof FLOODS)[number];

/** What the attacker sent and got back, for its final report. */
export interface Tally {
  /** Sybils made during the flood (those that publish once and are never heard of again). */
  freshSybils: number;
  messages: number;
  bytesOut: number;
  bytesIn: number;
  streams: number;
  streamFailures: number;
  /** Why the first failed stream failed (what the honest peer, or libp2p, said). */
  firstFailure: string | null;
}

export interface FloodContext {
  manifest: JobManifest;
  /** The attacker's own node: gossip goes out through it, and it serves the forged model. */
  node: SwarmPeer;
  /** Every connection stream floods use (the node and the extra ones). */
  connections: SwarmPeer[];
  sybils: Sybil[];
  view: HonestView;
  random: () => number;
  signal: AbortSignal;
  /** Concurrent streams per connection and honest peer. */
  streams: number;
  /** Fresh Sybils per second (partial-parts, summary-churn). */
  rate: number;
  forged: ReturnType<typeof forgedWeights> | null;
  /** The attacker node's own stamp (it announces the forged model itself too). */
  nodeAdmission: AdmissionStamp;
  tally: Tally;
}

const TICK_MS = 500;
/** Well inside the job's 15 s peer timeout, so every Sybil stays "fresh" on every honest peer. */
const REANNOUNCE_MS = 5_000;
const STREAM_TIMEOUT_MS = 30_000;

export function runFlood(name: FloodName, ctx: FloodContext): Promise<void> {
  switch (name) {
    case 'partial-parts':
      return partialParts(ctx);
    case 'pull-amplification':
      return streamFlood(ctx, 'antiEntropy', () => {
        const refs = ctx.view.openRefs();
        return refs.length > 0 ? pullRequest(ctx.manifest, refs) : null;
      });
    case 'weight-sync-storm':
      return streamFlood(ctx, 'weightSync', () => weightSyncRequest(ctx.manifest, null));
    case 'heartbeat-inflation':
      return everyFew(ctx, REANNOUNCE_MS, (round) =>
        ctx.sybils.map(
          (s) =>
            [
              s,
              topics.heartbeat(ctx.manifest.jobId),
              trainingHeartbeat(ctx.manifest, round, Date.now(), s.admission),
            ] as const,
        ),
      );
    case 'summary-churn':
      return summaryChurn(ctx);
    case 'resync-storm':
    case 'resync-storm-distinct':
      return resyncStorm(ctx, name === 'resync-storm-distinct');
  }
}

/** Sends between two turns of the event loop: a publish awaits only promises, which never yield to I/O. */
const SENDS_PER_TURN = 20;

async function send(ctx: FloodContext, sybil: Sybil, topic: string, frame: Uint8Array): Promise<void> {
  await publishAs(ctx.node.services.pubsub, sybil, topic, frame);
  ctx.tally.bytesOut += frame.length;
  // Without a turn now and then a burst of a thousand starves the node's streams (and its weight sync).
  if (++ctx.tally.messages % SENDS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
}

/** Every `ms`, the messages `make` builds for the honest swarm's current round. */
async function everyFew(
  ctx: FloodContext,
  ms: number,
  make: (round: number) => readonly (readonly [Sybil, string, Uint8Array])[],
): Promise<void> {
  while (!ctx.signal.aborted) {
    const round = ctx.view.current()?.round ?? 0;
    for (const [sybil, topic, frame] of make(round)) {
      if (ctx.signal.aborted) break;
      await send(ctx, sybil, topic, frame);
    }
    await sleep(ms, ctx.signal);
  }
}

/**
 * `rate` fresh Sybils a second, each with part 0 of 2 for the open round and for the next, based on the
 * model honest peers hold (so the open round's base is known too). One part per author and round is all a
 * receiver keeps (a second payload would be an equivocation): fresh identities are what makes it grow.
 */
async function partialParts(ctx: FloodContext): Promise<void> {
  const part = new Uint8Array(partialShape(ctx.manifest).partBytes);
  const topic = topics.deltas(ctx.manifest.jobId);
  await perSecond(ctx, async () => {
    const now = ctx.view.current();
    if (!now) return;
    const sybil = await makeSybil(ctx.manifest);
    ctx.tally.freshSybils++;
    for (const round of [now.round, now.round + 1]) {
      const at = {
        round,
        baseRound: now.round,
        baseSha: now.modelSha256,
        payloadSha256: randomSha256(ctx.random),
      };
      await send(ctx, sybil, topic, await partialPart(ctx.manifest, sybil, at, part));
    }
  });
}

/** Runs `each` `ctx.rate` times a second, spread over the second, until the signal aborts. */
async function perSecond(ctx: FloodContext, each: () => Promise<void>): Promise<void> {
  const gap = 1_000 / ctx.rate;
  let next = Date.now();
  while (!ctx.signal.aborted) {
    await each();
    next += gap;
    await sleep(Math.max(0, next - Date.now()), ctx.signal);
  }
}

/** `rate` fresh Sybils a second, each naming a random model and a full summary of deltas nobody has. */
async function summaryChurn(ctx: FloodContext): Promise<void> {
  const topic = topics.summaries(ctx.manifest.jobId);
  await perSecond(ctx, async () => {
    const round = ctx.view.current()?.round ?? 0;
    const sybil = await makeSybil(ctx.manifest);
    ctx.tally.freshSybils++;
    const deltas = Array.from({ length: PROTOCOL_LIMITS.maxSummaryEntries }, (_, j) => ({
      round: round + (j % 2),
      peer: sybil.id,
      payloadSha256: randomSha256(ctx.random),
    }));
    const modelSha256 = randomSha256(ctx.random);
    await send(ctx, sybil, topic, summary(ctx.manifest, { round, modelSha256, deltas }, sybil.admission));
  });
}

/**
 * Rounds ahead of the honest swarm the storm's announcements stay, fixed at its start: whatever the honest
 * rounds do meanwhile, every announcer's view keys the same (round, model) group, and a strict majority
 * of fresh neighbours ahead is the resync rule's `behind` case.
 */
const STORM_AHEAD = 100;

/** Sybils (and the node) announce the forged model; the node serves it to whoever asks. */
async function resyncStorm(ctx: FloodContext, distinct: boolean): Promise<void> {
  const forged = ctx.forged!;
  const topic = topics.summaries(ctx.manifest.jobId);
  let now = ctx.view.current();
  while (!now && !ctx.signal.aborted) {
    await sleep(TICK_MS, ctx.signal);
    now = ctx.view.current();
  }
  if (!now) return;
  // Distinct: every group of announcers has one member; the node's, a round later, wins the tie.
  const round = now.round + STORM_AHEAD;
  const announced: { round: number; pastModels: PastModels } = {
    round: distinct ? round + 1 : round,
    pastModels: [],
  };
  ctx.node.services.swarm.serve('weightSync', async (stream) => {
    const signal = AbortSignal.timeout(STREAM_TIMEOUT_MS);
    await stream.read(signal); // whatever it asks for: the forged model is the one announced
    for (const frame of forgedHistory(ctx.manifest, forged, announced)) await stream.write(frame, signal);
    await stream.close(signal);
  });
  const own = summary(ctx.manifest, { ...announced, modelSha256: forged.modelSha256 }, ctx.nodeAdmission);
  while (!ctx.signal.aborted) {
    const started = Date.now();
    await ctx.node.services.pubsub.publish(topic, own);
    for (const sybil of ctx.sybils) {
      if (ctx.signal.aborted) break;
      const modelSha256 = distinct ? randomSha256(ctx.random) : forged.modelSha256;
      await send(ctx, sybil, topic, summary(ctx.manifest, { round, modelSha256 }, sybil.admission));
    }
    await sleep(Math.max(0, REANNOUNCE_MS - (Date.now() - started)), ctx.signal);
  }
}

/**
 * `streams` concurrent request loops per connection and honest peer: open a stream, send `request(peer)`,
 * read every answer frame to the end (so the peer keeps encoding and sending), repeat.
 */
async function streamFlood(
  ctx: FloodContext,
  protocol: StreamProtocol,
  request: (peer: string) => Uint8Array | null,
): Promise<void> {
  const loop = async (conn: SwarmPeer, index: number): Promise<void> => {
    while (!ctx.signal.aborted) {
      const peers = ctx.view.peers();
      const peer = peers[index % Math.max(1, peers.length)];
      const frame = peer === undefined ? null : request(peer);
      if (peer === undefined || frame === null) {
        await sleep(TICK_MS, ctx.signal);
        continue;
      }
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(STREAM_TIMEOUT_MS)]);
      try {
        const stream = await conn.services.swarm.dial(peer, protocol, signal);
        ctx.tally.streams++;
        await stream.write(frame, signal);
        ctx.tally.bytesOut += frame.length;
        for (let bytes = await stream.read(signal); bytes; bytes = await stream.read(signal))
          ctx.tally.bytesIn += bytes.length;
        await stream.close(signal);
      } catch (err) {
        ctx.tally.streamFailures++;
        ctx.tally.firstFailure ??= `${(err as Error).name}: ${(err as Error).message}`;
        await sleep(TICK_MS, ctx.signal); // a refused stream is retried, not hammered
      }
    }
  };
  const loops: Promise<void>[] = [];
  // Each loop stays on one honest peer (index mod peers), so every peer gets `streams` per connection.
  const honest = Math.max(1, ctx.view.peers().length);
  for (const conn of ctx.connections)
    for (let i = 0; i < ctx.streams * honest; i++) loops.push(loop(conn, i));
  await Promise.all(loops);
}
