/**
 * Swarm benchmark: 8 in-process peers on the libp2p memory transport (real gossipsub, frames, validation
 * and merge) train the synthetic problem for R rounds, once per codec on the same seed and data. Prints one
 * JSON line per run (with --json) or a readable line.
 *
 * With --slow-peer one of the 8 needs longer than a round for its local steps (a phone tab beside
 * workers); top-k runs with maxStaleness 0 and 1 show what bounded staleness buys, beside all peers fast.
 *
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/swarm.ts [--json] [--quick] [--aggregation <rule>] [--slow-peer]
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
import {
  flat,
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
  })
  .strict();

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:swarm')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'smoke run: 2 rounds, no loss comparison', false)
    .option(
      '--aggregation <rule>',
      `merge rule, one of ${Object.keys(AGGREGATIONS).join(', ')} (the norm bound, 1e6, never binds)`,
      'mean',
    )
    .option('--slow-peer', 'one peer slower than a round: maxStaleness 0 vs 1 (top-k)', false);
  return parseCommandLineOrExit(program, argv, Flags);
}

interface Row {
  peers: number;
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
  maxReplicaDiff: number;
  initialLoss: number;
  finalLoss: number;
  wallSeconds: number;
  /** Loss of the shared model after each round (peer 0's replica), for the plot. */
  lossByRound: number[];
}

const PEERS = 8;
const PARAMS = 131_072;
const TOPK_FRACTION = 0.005;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Run {
  codec: CodecId;
  rounds: number;
  seed: number;
  aggregation: JobManifest['aggregation'];
  errorFeedback: boolean;
  maxStaleness: number;
  /** Peer PEERS − 1 stalls this long before each delta; null: nobody does. */
  slowPeerMs: number | null;
  deadlineMs: number;
}

async function runSwarm(run: Run): Promise<Row> {
  const { codec, rounds, seed, aggregation, errorFeedback, maxStaleness, slowPeerMs, deadlineMs } = run;
  const started = performance.now();
  const problem = syntheticProblem(PARAMS, seed);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    name: `bench-${codec}-${errorFeedback ? 'ef' : 'noef'}-${aggregation.rule}-s${maxStaleness}`,
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: PARAMS,
    codec,
    topkFraction: TOPK_FRACTION,
    errorFeedback,
    aggregation,
    round: { quorumFraction: 1, deadlineMs, minDeltas: 1, peerTimeoutMs: 5_000, maxStaleness },
  });
  const peers: SwarmPeer[] = [];
  for (let i = 0; i < PEERS; i++) {
    peers.push(
      await createNodePeer({
        listen: [`/memory/${manifest.jobId}-${slowPeerMs ?? 0}-${i}`],
        gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 200, D: 4, Dlo: 3, Dhi: 6 },
        swarm: { heartbeatIntervalMs: 1000, antiEntropyIntervalMs: 1000, tickMs: 10 },
      }),
    );
  }
  // A ring with chords (degree 4), not a full mesh: closer to a real swarm, and fewer duplicate copies of
  // each large message for the one shared CPU to encrypt.
  for (let i = 0; i < PEERS; i++) {
    for (const step of [1, 2]) await peers[i]!.dial(peers[(i + step) % PEERS]!.getMultiaddrs()[0]!);
  }
  const replicas = await Promise.all(
    peers.map((peer) => createSwarmReplica({ peer, manifest, initialWeights: w0 })),
  );
  while (!replicas.every((r) => r.activeContributors() === PEERS))
    await new Promise((r) => setTimeout(r, 20));

  const lossByRound: number[] = [];
  replicas[0]!.events.on('round:opened', () => {
    lossByRound.push(Number(problem.loss(flat(replicas[0]!.current().weights, problem)).toFixed(4)));
  });
  const slowId = peers[PEERS - 1]!.peerId.toString();
  let slowPeerMergedRounds = 0;
  let staleDeltas = 0;
  replicas[0]!.events.on('round:closed', (e) => {
    if (e.peers.includes(slowId)) slowPeerMergedRounds++;
    staleDeltas += e.stale;
  });
  const reports: RoundReport[] = [];
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
  // Quiescence: every replica at the last round with one model hash.
  const deadline = Date.now() + 30_000;
  const settled = () =>
    replicas.every(
      (r) => r.current().round === rounds && r.current().sha256 === replicas[0]!.current().sha256,
    );
  while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  const finals = replicas.map((r) => flat(r.current().weights, problem));
  let maxReplicaDiff = 0;
  for (const w of finals)
    for (let j = 0; j < PARAMS; j++)
      maxReplicaDiff = Math.max(maxReplicaDiff, Math.abs(w[j]! - finals[0]![j]!));
  const resyncs = peers.reduce((n, p) => n + p.services.swarm.stats().resyncs, 0);
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(peers.map((p) => p.stop()));

  const latencies = reports.map((r) => r.publishToMergeMs).sort((a, b) => a - b);
  const wire = reports.reduce((s, r) => s + r.wireBytes, 0) / reports.length;
  const dense = PARAMS * 4;
  return {
    peers: PEERS,
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
    maxReplicaDiff,
    initialLoss: Number(problem.loss(new Float32Array(PARAMS)).toFixed(4)),
    finalLoss: Number(problem.loss(finals[0]!).toFixed(4)),
    wallSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    lossByRound,
  };
}

const flags = parseFlags(process.argv.slice(2));
// --quick is a smoke run (each configuration once, a few rounds), not a loss comparison.
const rounds = flags.quick ? (flags.slowPeer ? 4 : 2) : 30;
const base: Run = {
  codec: 'topk-int8',
  rounds,
  seed: 42,
  aggregation: AGGREGATIONS[flags.aggregation],
  errorFeedback: true,
  maxStaleness: 1,
  slowPeerMs: null,
  deadlineMs: 10_000,
};
// Same seed and data for every row. Codecs: the last row shows what error feedback buys. Slow peer: its
// local steps take 2.5 s while a round closes 1.5 s after the first delta.
const runs: Run[] = flags.slowPeer
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
        `p95 ${row.roundLatencyMsP95} ms, max replica diff ${row.maxReplicaDiff}, ${row.resyncs} resyncs, loss ${row.initialLoss} → ${row.finalLoss}${slow}, ${row.wallSeconds} s`,
    );
  }
}
process.exit(0);
