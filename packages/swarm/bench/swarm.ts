/**
 * Swarm benchmark: 8 in-process peers on the libp2p memory transport (real gossipsub, frames, validation
 * and merge) train the synthetic problem for R rounds, once per codec on the same seed and data. Prints one
 * JSON line per codec (with --json) or a readable line.
 *
 *   node --import tsx packages/swarm/bench/swarm.ts [--json] [--quick] [--aggregation <rule>]
 */
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { Command } from 'commander';
import { z } from 'zod';
import type { CodecId, JobManifest } from '@slimswarm/protocol';
import { ModelLayout } from '../src/model.js';
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
} from './synthetic.js';

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
    );
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

async function runCodec(
  codec: CodecId,
  rounds: number,
  seed: number,
  aggregation: JobManifest['aggregation'],
  errorFeedback = true,
): Promise<Row> {
  const started = performance.now();
  const problem = syntheticProblem(PARAMS, seed);
  const layout = new ModelLayout(problem.shapes);
  const w0 = zeroWeights(problem);
  const manifest = syntheticManifest({
    jobId: `bench-${codec}-${errorFeedback ? 'ef' : 'noef'}-${aggregation.rule}`,
    baseSha256: modelSha256(layout, layout.flatten(w0)),
    params: PARAMS,
    codec,
    topkFraction: TOPK_FRACTION,
    errorFeedback,
    aggregation,
    round: { quorumFraction: 1, deadlineMs: 10_000, minDeltas: 1, peerTimeoutMs: 5_000 },
  });
  const peers: SwarmPeer[] = [];
  for (let i = 0; i < PEERS; i++) {
    peers.push(
      await createNodePeer({
        listen: [`/memory/bench-${codec}-${errorFeedback}-${i}`],
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
  const reports: RoundReport[] = [];
  await Promise.all(
    replicas.map((r, i) => trainLoop(r, problem, i, rounds, manifest, (rep) => reports.push(rep))),
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
// --quick is a smoke run (each codec once, a few rounds), not a loss comparison.
const rounds = flags.quick ? 2 : 30;
// Same seed and data for every row; the last row shows what error feedback buys.
const configs: [CodecId, boolean][] = [
  ['dense-f32', true],
  ['dense-f16', true],
  ['topk-int8', true],
  ...(flags.quick ? [] : [['topk-int8', false] as [CodecId, boolean]]),
];
for (const [codec, errorFeedback] of configs) {
  const row = await runCodec(codec, rounds, 42, AGGREGATIONS[flags.aggregation], errorFeedback);
  if (flags.json) console.log(JSON.stringify(row));
  else {
    console.log(
      `${row.codec.padEnd(10)}${codec === 'topk-int8' && !errorFeedback ? ' (no error feedback)' : ''} ` +
        `${row.peers} peers, ${row.rounds} rounds, ${row.params} params: ` +
        `${row.wireBytesPerDelta} B/delta (${row.compression}× vs dense f32), merge latency p50 ${row.roundLatencyMsP50} ms ` +
        `p95 ${row.roundLatencyMsP95} ms, max replica diff ${row.maxReplicaDiff}, loss ${row.initialLoss} → ${row.finalLoss}`,
    );
  }
}
process.exit(0);
