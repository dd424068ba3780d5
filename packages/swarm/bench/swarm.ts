/**
 * Swarm benchmark: 8 in-process peers on the libp2p memory transport (real gossipsub, frames, validation
 * and merge) train the synthetic problem for R rounds, once per codec on the same seed and data. Prints one
 * JSON line per run (with --json) or a readable line.
 *
 * With --slow-peer one of the 8 needs longer than a round for its local steps (a phone tab beside
 * workers); top-k runs with maxStaleness 0 and 1 show what bounded staleness buys, beside all peers fast.
 *
 * With --scale the swarm grows: N = 8, 32 and 128 peers (--quick: 8 and 16) in this one process, top-k,
 * each peer dialling its ring neighbour and two seeded random others (a random graph of diameter about
 * log N, as a swarm that meshes through the coordinator's listing is). Each row gives per peer and round
 * the frame bytes sent and received, the gossip amplification (frame bytes a peer received over the
 * bytes of the round's distinct deltas), the merge's CPU time and the round latency. The scale runs use the
 * production timings of the timed channels (heartbeats 5 s, summaries 3 s); --max-spread 1,16 runs each
 * size without and with their spread (timed-spread.ts).
 *
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/swarm.ts [--json] [--quick] [--aggregation <rule>] [--slow-peer | --scale [--peers n,...] [--max-spread x,...]]
 */
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { Command } from 'commander';
import { z } from 'zod';
import type { CodecId, JobManifest } from '@slimswarm/protocol';
import { ModelLayout } from '../src/model-layout.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { TransportMeter } from './transport-meter.js';
import {
  flat,
  rng,
  syntheticManifest,
  syntheticProblem,
  trainLoop,
  zeroWeights,
  type RoundReport,
} from './synthetic-problem.js';

/** The rules a run can merge with; trimmed ones trim 1/8 per end (one peer of 8). */
const AGGREGATIONS = {
  mean: { rule: 'mean', normBound: 1e6 },
  'trimmed-mean': { rule: 'trimmed-mean', normBound: 1e6, trimFraction: 0.125 },
  'sparse-trimmed-mean': { rule: 'sparse-trimmed-mean', normBound: 1e6, trimFraction: 0.125 },
} as const satisfies Record<string, JobManifest['aggregation']>;

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    aggregation: z.enum(Object.keys(AGGREGATIONS) as [keyof typeof AGGREGATIONS]),
    slowPeer: z.boolean(),
    scale: z.boolean(),
    /** With --scale: the swarm sizes to run instead of the default ones (one run per size). */
    peers: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'a comma-separated list of peer counts')
      .transform((list) => list.split(',').map(Number))
      .pipe(z.array(z.number().int().min(2).max(512)))
      .optional(),
    /** With --scale: run each size once per cap on the timed channels' spread (1: no spread). */
    maxSpread: z
      .string()
      .regex(/^\d+(\.\d+)?(,\d+(\.\d+)?)*$/, 'a comma-separated list of numbers')
      .transform((list) => list.split(',').map(Number))
      .pipe(z.array(z.number().min(1).max(1024)))
      .optional(),
  })
  .strict()
  .refine((f) => !(f.slowPeer && f.scale), '--slow-peer and --scale are separate runs')
  .refine((f) => f.peers === undefined || f.scale, { path: ['peers'], message: 'goes with --scale' })
  .refine((f) => f.maxSpread === undefined || f.scale, { path: ['maxSpread'], message: 'goes with --scale' });

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:swarm')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'smoke run: 2 rounds, no loss comparison', false)
    .option(
      '--aggregation <rule>',
      `merge rule, one of ${Object.keys(AGGREGATIONS).join(', ')} (the norm bound, 1e6, never binds)`,
      'mean',
    )
    .option('--slow-peer', 'one peer slower than a round: maxStaleness 0 vs 1 (top-k)', false)
    .option('--scale', 'N = 8, 32, 128 peers (--quick: 8, 16): bytes, amplification, merge time', false)
    .option('--peers <n,...>', 'with --scale: these swarm sizes instead (e.g. 128)')
    .option(
      '--max-spread <x,...>',
      "with --scale: each size once per cap on the timed channels' spread (1: none)",
    );
  return parseCommandLineOrExit(program, argv, Flags);
}

interface Row {
  peers: number;
  timings: Run['timings'];
  maxSpread: number | null;
  rounds: number;
  params: number;
  codec: CodecId;
  topkFraction: number | null;
  errorFeedback: boolean;
  aggregation: JobManifest['aggregation']['rule'];
  maxStaleness: number;
  /** The slow peer's stall before each delta (ms), or null when every peer is fast. */
  slowPeerMs: number | null;
  /** Rounds that merged the slow peer's delta. */
  slowPeerMergedRounds: number | null;
  /** Deltas merged from an earlier round's model, over all rounds. */
  staleDeltas: number;
  /** Times a peer replaced its model with its neighbours' (split sets, falling behind), all peers. */
  resyncs: number;
  denseBytesPerDelta: number;
  wireBytesPerDelta: number;
  compression: number;
  roundLatencyMsP50: number;
  roundLatencyMsP95: number;
  /** Deltas merged per round (peer 0's view), and the bytes of those distinct deltas on the wire. */
  deltasPerRound: number;
  uniqueDeltaBytesPerRound: number;
  /**
   * Frame bytes our handlers saw, per peer and round: deltas, heartbeats, summaries, pulls, each gossip
   * message once (gossipsub drops duplicates before validation); no gossipsub control, no encryption.
   */
  bytesSentPerPeerRound: number;
  bytesReceivedPerPeerRound: number;
  /**
   * The gossip part of bytesReceivedPerPeerRound by topic (the last segment of its name: deltas,
   * heartbeat, summaries, evidence), from gossipsub's delivered messages: what each channel costs a peer.
   */
  gossipBytesByTopicPerPeerRound: Record<string, number>;
  /** Gossip messages a peer took in per second of the rounds, by topic: what the timed channels' spread bounds. */
  gossipMessagesByTopicPerPeerSecond: Record<string, number>;
  /** Whether every replica reached the last round with one model hash before the bench gave up waiting. */
  settled: boolean;
  /** What the transport carried in, per peer and round: encrypted, muxed, gossip control and duplicates. */
  transportBytesPerPeerRound: number;
  /** transportBytesPerPeerRound over uniqueDeltaBytesPerRound: what a peer takes in per byte of distinct delta. */
  gossipAmplification: number;
  /** CPU time of one round's close (robust merge and optimiser step), over every peer and round. */
  mergeMsP50: number;
  mergeMsP95: number;
  maxReplicaDiff: number;
  initialLoss: number;
  finalLoss: number;
  wallSeconds: number;
  /**
   * Seconds from the first round's start to quiescence, over the rounds: what the per-round bytes of the
   * timed channels (heartbeats, summaries) scale with.
   */
  secondsPerRound: number;
  /** Loss of the shared model after each round (peer 0's replica), for the plot. */
  lossByRound: number[];
}

const DEFAULT_PEERS = 8;
const PARAMS = 131_072;
/** The scale runs' model: small, so 128 replicas and their merges fit one process beside libp2p. */
const SCALE_PARAMS = 32_768;
const TOPK_FRACTION = 0.005;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Run {
  peers: number;
  params: number;
  /** Ring with chords at 1 and 2 (the 8-peer rows), or ring plus two seeded random chords per peer. */
  topology: 'ring-chords' | 'ring-random';
  codec: CodecId;
  rounds: number;
  seed: number;
  aggregation: JobManifest['aggregation'];
  errorFeedback: boolean;
  maxStaleness: number;
  /** Peer PEERS − 1 stalls this long before each delta; null: nobody does. */
  slowPeerMs: number | null;
  deadlineMs: number;
  /**
   * 'fast': heartbeats and summaries every 1 s, gossipsub's heartbeat 200 ms, peers fresh for 5 s (rounds of
   * a few seconds). 'production': the swarm's defaults (5 s, 3 s, gossipsub 1 s) and the default job's 15 s,
   * for the scale runs: one process carries every peer's share of the timed channels on two cores.
   */
  timings: 'fast' | 'production';
  /** Cap on the timed channels' spread (timed-spread.ts); null: the swarm's default. */
  maxSpread: number | null;
}

const TIMINGS = {
  fast: {
    peerTimeoutMs: 5_000,
    gossipHeartbeatMs: 200,
    swarm: { heartbeatIntervalMs: 1000, antiEntropyIntervalMs: 1000 },
  },
  production: { peerTimeoutMs: 15_000, gossipHeartbeatMs: 1000, swarm: {} },
} as const;

async function runSwarm(run: Run): Promise<Row> {
  const { codec, rounds, seed, aggregation, errorFeedback, maxStaleness, slowPeerMs, deadlineMs } = run;
  const { peers: PEERS, params: PARAMS } = run;
  const timings = TIMINGS[run.timings];
  const started = performance.now();
  const problem = syntheticProblem(PARAMS, seed);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    name: `bench-${PEERS}-${codec}-${errorFeedback ? 'ef' : 'noef'}-${aggregation.rule}-s${maxStaleness}`,
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: PARAMS,
    codec,
    topkFraction: TOPK_FRACTION,
    errorFeedback,
    aggregation,
    round: {
      quorumFraction: 1,
      deadlineMs,
      minDeltas: 1,
      peerTimeoutMs: timings.peerTimeoutMs,
      maxStaleness,
    },
  });
  // Progress on stderr (stdout stays JSON lines): a large swarm in one process takes minutes per round.
  const progress = (what: string) =>
    process.stderr.write(`${PEERS} peers, ${((performance.now() - started) / 1000).toFixed(0)} s: ${what}\n`);
  const peers: SwarmPeer[] = [];
  const meters = Array.from({ length: PEERS }, () => new TransportMeter());
  for (let i = 0; i < PEERS; i++) {
    peers.push(
      await createNodePeer(
        {
          listen: [`/memory/${manifest.jobId}-${slowPeerMs ?? 0}-${i}`],
          gossip: {
            ipColocationFactorWeight: 0,
            heartbeatIntervalMs: timings.gossipHeartbeatMs,
            D: 4,
            Dlo: 3,
            Dhi: 6,
          },
          swarm: {
            ...timings.swarm,
            ...(run.maxSpread === null ? {} : { maxSpread: run.maxSpread }),
            tickMs: 10,
          },
        },
        { metrics: meters[i]!.metrics },
      ),
    );
  }
  // Not a full mesh: closer to a real swarm, and fewer duplicate copies of each large message for the one
  // shared CPU to encrypt. A ring with chords (degree 4) at 8 peers; beyond, its diameter (N/4) would be
  // the latency measured, so the scale runs add random chords instead.
  const chords = rng(seed + PEERS);
  for (let i = 0; i < PEERS; i++) {
    const steps =
      run.topology === 'ring-chords'
        ? [1, 2]
        : [1, ...[0, 1].map(() => 2 + Math.floor(chords() * (PEERS - 3)))];
    for (const step of new Set(steps)) await peers[i]!.dial(peers[(i + step) % PEERS]!.getMultiaddrs()[0]!);
  }
  progress('connected');
  const replicas = await Promise.all(
    peers.map((peer) => createSwarmReplica({ peer, manifest, initialWeights: w0 })),
  );
  const fewestCounted = () => Math.min(...replicas.map((r) => r.activeContributors()));
  for (let polls = 1; fewestCounted() < PEERS; polls++) {
    await new Promise((r) => setTimeout(r, 20));
    if (polls % 500 === 0) progress(`the fewest trainers a peer counts: ${fewestCounted()}`);
  }
  progress('every peer counts every trainer');
  replicas[0]!.events.on('round:closed', (e) => progress(`round ${e.round} closed`));

  const lossByRound: number[] = [];
  replicas[0]!.events.on('round:opened', () => {
    lossByRound.push(Number(problem.loss(flat(replicas[0]!.current().weights, problem)).toFixed(4)));
  });
  const slowId = peers[PEERS - 1]!.peerId.toString();
  let slowPeerMergedRounds = 0;
  let staleDeltas = 0;
  let merged = 0;
  replicas[0]!.events.on('round:closed', (e) => {
    if (e.peers.includes(slowId)) slowPeerMergedRounds++;
    staleDeltas += e.stale;
    merged += e.accepted;
  });
  const mergeMs: number[] = [];
  for (const r of replicas) r.events.on('round:closed', (e) => mergeMs.push(e.mergeMs));
  const bytesAtStart = peers.map((p) => p.services.swarm.stats());
  const byTopic: Record<string, number> = {};
  const messagesByTopic: Record<string, number> = {};
  for (const p of peers)
    p.services.pubsub.addEventListener('message', ({ detail }) => {
      const channel = detail.topic.slice(detail.topic.lastIndexOf('/') + 1);
      byTopic[channel] = (byTopic[channel] ?? 0) + detail.data.byteLength;
      messagesByTopic[channel] = (messagesByTopic[channel] ?? 0) + 1;
    });
  const transportAtStart = meters.map((m) => m.received);
  const reports: RoundReport[] = [];
  const trainStarted = performance.now();
  await Promise.all(
    replicas.map((r, i) =>
      trainLoop(
        r,
        problem,
        i,
        rounds,
        manifest,
        (rep) => reports.push(rep),
        () => (i === PEERS - 1 ? (slowPeerMs ?? 0) : 0),
      ),
    ),
  );
  // Quiescence: every replica at the last round with one model hash, waited for as long as two rounds took.
  const deadline = Date.now() + Math.max(30_000, (2 * (performance.now() - trainStarted)) / rounds);
  const settled = () =>
    replicas.every(
      (r) => r.current().round === rounds && r.current().sha256 === replicas[0]!.current().sha256,
    );
  while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const didSettle = settled();
  const trainSeconds = (performance.now() - trainStarted) / 1000;
  const secondsPerRound = trainSeconds / rounds;

  const finals = replicas.map((r) => flat(r.current().weights, problem));
  let maxReplicaDiff = 0;
  for (const w of finals)
    for (let j = 0; j < PARAMS; j++)
      maxReplicaDiff = Math.max(maxReplicaDiff, Math.abs(w[j]! - finals[0]![j]!));
  const resyncs = peers.reduce((n, p) => n + p.services.swarm.stats().resyncs, 0);
  const traffic = peers.map((p, i) => {
    const now = p.services.swarm.stats();
    return {
      sent: now.bytesOut - bytesAtStart[i]!.bytesOut,
      received: now.bytesIn - bytesAtStart[i]!.bytesIn,
      transport: meters[i]!.received - transportAtStart[i]!,
    };
  });
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(peers.map((p) => p.stop()));

  const latencies = reports.map((r) => r.publishToMergeMs).sort((a, b) => a - b);
  const wire = reports.reduce((s, r) => s + r.wireBytes, 0) / reports.length;
  const dense = PARAMS * 4;
  const perPeerRound = (bytes: (t: (typeof traffic)[number]) => number) =>
    traffic.reduce((n, t) => n + bytes(t), 0) / PEERS / rounds;
  const deltasPerRound = merged / rounds;
  const uniqueDeltaBytesPerRound = deltasPerRound * wire;
  const transport = perPeerRound((t) => t.transport);
  mergeMs.sort((a, b) => a - b);
  return {
    peers: PEERS,
    timings: run.timings,
    maxSpread: run.maxSpread,
    rounds,
    params: PARAMS,
    codec,
    topkFraction: codec === 'topk-int8' ? TOPK_FRACTION : null,
    errorFeedback: codec === 'topk-int8' ? errorFeedback : false,
    aggregation: manifest.aggregation.rule,
    maxStaleness,
    slowPeerMs,
    slowPeerMergedRounds: slowPeerMs === null ? null : slowPeerMergedRounds,
    staleDeltas,
    resyncs,
    denseBytesPerDelta: dense,
    wireBytesPerDelta: Math.round(wire),
    compression: Number((dense / wire).toFixed(1)),
    roundLatencyMsP50: Number(quantile(latencies, 0.5).toFixed(1)),
    roundLatencyMsP95: Number(quantile(latencies, 0.95).toFixed(1)),
    deltasPerRound: Number(deltasPerRound.toFixed(1)),
    uniqueDeltaBytesPerRound: Math.round(uniqueDeltaBytesPerRound),
    bytesSentPerPeerRound: Math.round(perPeerRound((t) => t.sent)),
    bytesReceivedPerPeerRound: Math.round(perPeerRound((t) => t.received)),
    gossipBytesByTopicPerPeerRound: Object.fromEntries(
      Object.entries(byTopic).map(([topic, bytes]) => [topic, Math.round(bytes / PEERS / rounds)]),
    ),
    gossipMessagesByTopicPerPeerSecond: Object.fromEntries(
      Object.entries(messagesByTopic).map(([topic, n]) => [
        topic,
        Number((n / PEERS / trainSeconds).toFixed(2)),
      ]),
    ),
    settled: didSettle,
    transportBytesPerPeerRound: Math.round(transport),
    gossipAmplification: Number((transport / uniqueDeltaBytesPerRound).toFixed(2)),
    mergeMsP50: Number(quantile(mergeMs, 0.5).toFixed(2)),
    mergeMsP95: Number(quantile(mergeMs, 0.95).toFixed(2)),
    maxReplicaDiff,
    initialLoss: Number(problem.loss(new Float32Array(PARAMS)).toFixed(4)),
    finalLoss: Number(problem.loss(finals[0]!).toFixed(4)),
    wallSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    secondsPerRound: Number(secondsPerRound.toFixed(2)),
    lossByRound,
  };
}

const flags = parseFlags(process.argv.slice(2));
// --quick is a smoke run (each configuration once, a few rounds), not a loss comparison.
const rounds = flags.quick ? (flags.slowPeer ? 4 : 2) : 30;
const base: Run = {
  peers: DEFAULT_PEERS,
  params: PARAMS,
  topology: 'ring-chords',
  codec: 'topk-int8',
  rounds,
  seed: 42,
  aggregation: AGGREGATIONS[flags.aggregation],
  errorFeedback: true,
  maxStaleness: 1,
  slowPeerMs: null,
  deadlineMs: 10_000,
  timings: 'fast',
  maxSpread: null,
};
// Same seed and data for every row. Codecs: the last row shows what error feedback buys. Slow peer: its
// local steps take 2.5 s while a round closes 1.5 s after the first delta.
const scale = (flags.peers ?? (flags.quick ? [8, 16] : [8, 32, 128])).flatMap((peers) =>
  (flags.maxSpread ?? [null]).map((maxSpread): Run => ({
    ...base,
    peers,
    params: SCALE_PARAMS,
    topology: 'ring-random',
    rounds: flags.quick ? 3 : 6,
    // Room for 128 peers' deltas to cross a random graph on one shared CPU; rounds still close on quorum.
    deadlineMs: 20_000,
    timings: 'production',
    maxSpread,
  })),
);
const runs: Run[] = flags.scale
  ? scale
  : flags.slowPeer
    ? [
        { ...base, deadlineMs: 1_500 },
        { ...base, deadlineMs: 1_500, slowPeerMs: 2_500, maxStaleness: 0 },
        { ...base, deadlineMs: 1_500, slowPeerMs: 2_500, maxStaleness: 1 },
      ]
    : [
        { ...base, codec: 'dense-f32' },
        { ...base, codec: 'dense-f16' },
        base,
        ...(flags.quick ? [] : [{ ...base, errorFeedback: false }]),
      ];
for (const run of runs) {
  const row = await runSwarm(run);
  if (flags.json) console.log(JSON.stringify(row));
  else {
    const slow =
      row.slowPeerMs === null
        ? ''
        : `, slow peer (${row.slowPeerMs} ms) merged in ${row.slowPeerMergedRounds} rounds (maxStaleness ${row.maxStaleness})`;
    console.log(
      `${row.codec.padEnd(10)}${run.codec === 'topk-int8' && !run.errorFeedback ? ' (no error feedback)' : ''} ` +
        `${row.peers} peers, ${row.rounds} rounds, ${row.params} params: ` +
        `${row.wireBytesPerDelta} B/delta (${row.compression}× vs dense f32), merge latency p50 ${row.roundLatencyMsP50} ms ` +
        `p95 ${row.roundLatencyMsP95} ms, ${row.transportBytesPerPeerRound} B in per peer-round (×${row.gossipAmplification} the distinct deltas), merge p50 ${row.mergeMsP50} ms, max replica diff ${row.maxReplicaDiff}, ${row.resyncs} resyncs, loss ${row.initialLoss} → ${row.finalLoss}${slow}, ${row.wallSeconds} s`,
    );
  }
}
process.exit(0);
