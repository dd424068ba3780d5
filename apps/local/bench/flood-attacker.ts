// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * One attacker process for the resource-flood benchmark (flood-live.ts starts it as a child process). It
 * meets the swarm as a worker does (attacker-join.ts), makes its Sybil keys and extra connections
 * (sybils.ts), learns the honest rounds from their summaries (honest-view.ts), prints `waiting`, and on
 * its parent's SIGUSR2 runs one flood (flood-attacks.ts) until SIGINT/SIGTERM or its parent is gone.
 * It never trains and never joins the rounds with a replica: everything it sends is a flood message.
 * Prints JSON lines (flood-events.ts).
 *
 *   node --conditions=@slimswarm/source --import tsx apps/local/bench/flood-attacker.ts --coordinator http://127.0.0.1:8700/ --attack partial-parts
 */
import { Command } from 'commander';
import { z } from 'zod';
import { weightsFromSafetensors } from '@slimswarm/client';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { mintStamp } from '@slimswarm/protocol';
import type { SwarmPeer } from '@slimswarm/swarm';
import { attackerProcess, joinAsWorkerPeer, sleep, type JoinedAttacker } from './attacker-join.js';
import { seededRandom } from './attack-vectors.js';
import { FLOODS, runFlood, type FloodName, type Tally } from './flood-attacks.js';
import type { FloodEvent } from './flood-events.js';
import { forgedWeights } from './flood-vectors.js';
import { HonestView } from './honest-view.js';
import { extraConnections, makeSybils } from './sybils.js';

/**
 * Identities per flood, sized for 8 honest workers and the attacker sharing 2 cores: enough that each
 * flood shows in the honest peers' figures, not so many that the attacker's own CPU is the story.
 */
const DEFAULT_SYBILS: Record<FloodName, number> = {
  'partial-parts': 0, // fresh ones, --rate a second
  'pull-amplification': 0,
  'weight-sync-storm': 0,
  'heartbeat-inflation': 100,
  'summary-churn': 0, // fresh ones, --rate a second
  'resync-storm': 1000,
  'resync-storm-distinct': 1000,
};
/** Extra libp2p nodes for the stream floods (each its own connection to every honest peer). */
const STREAM_CONNECTIONS = 2;
/** How long to wait for every honest worker's first summary before flooding anyway. */
const VIEW_WAIT_MS = 60_000;

const Flags = z
  .object({
    coordinator: z.string().url(),
    attack: z.enum(FLOODS),
    sybils: z.coerce.number().int().min(0).max(100_000).optional(),
    connections: z.coerce.number().int().min(0).max(64).optional(),
    streams: z.coerce.number().int().min(1).max(32),
    rate: z.coerce.number().int().min(1).max(10_000),
    honest: z.coerce.number().int().min(1).max(256),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
  })
  .strict();
type Flags = z.infer<typeof Flags>;

function parseFlags(argv: string[]): Flags {
  const program = new Command('flood-attacker')
    .description('A resource flood against a live swarm: many identities, the real wire protocol.')
    .requiredOption('--coordinator <url>', "the coordinator's HTTP address")
    .requiredOption('--attack <name>', FLOODS.join(', '))
    .option('--sybils <n>', 'Sybil identities for the gossip floods (default: per flood)')
    .option('--connections <n>', `extra connections for the stream floods (default ${STREAM_CONNECTIONS})`)
    .option('--streams <n>', 'concurrent streams per connection and honest peer', '8')
    .option('--rate <n>', 'fresh Sybils a second (partial-parts, summary-churn)', '8')
    .option('--honest <n>', 'honest workers whose summaries to wait for before flooding', '8')
    .option('--seed <n>', 'seed of the random digests', '1');
  return parseCommandLineOrExit(program, argv, Flags);
}

const emit = (e: FloodEvent): void => void process.stdout.write(JSON.stringify(e) + '\n');

const isStreamFlood = (name: FloodName): boolean =>
  name === 'pull-amplification' || name === 'weight-sync-storm';

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const { signal, go, dispose } = attackerProcess();
  const tally: Tally = {
    freshSybils: 0,
    messages: 0,
    bytesOut: 0,
    bytesIn: 0,
    streams: 0,
    streamFailures: 0,
    firstFailure: null,
  };
  const stopped = (reason: string): void => emit({ event: 'stopped', reason, ...tally });
  let joined: JoinedAttacker | null = null;
  let extras: SwarmPeer[] = [];
  try {
    emit({ event: 'loaded' });
    joined = await joinAsWorkerPeer(flags.coordinator, signal);
    const { peer, manifest } = joined;
    const sybils = await makeSybils(flags.sybils ?? DEFAULT_SYBILS[flags.attack], manifest);
    const bits = manifest.admission.mode === 'open' ? manifest.admission.difficultyBits : 0;
    const nodeAdmission = await mintStamp(manifest.jobId, peer.peerId.toString(), bits);
    const ours = new Set(sybils.map((s) => s.id));
    const view = new HonestView(manifest, peer.services.swarm, (p) => ours.has(p));
    emit({ event: 'waiting', peerId: peer.peerId.toString(), honestPeers: view.peers().length });
    await go;
    if (signal.aborted) return (stopped('interrupted before the flood'), 0);
    // The listing now names the workers (it named only the coordinator when this process started).
    const listed = await joined.meetNewcomers();
    const deadline = Date.now() + VIEW_WAIT_MS;
    while (view.fresh().length < flags.honest && Date.now() < deadline && !signal.aborted)
      await sleep(250, signal);
    if (isStreamFlood(flags.attack))
      extras = await extraConnections(flags.connections ?? STREAM_CONNECTIONS, listed);
    const forged = flags.attack.startsWith('resync-storm')
      ? forgedWeights(weightsFromSafetensors(joined.baseBytes), joined.shapes)
      : null;
    emit({
      event: 'started',
      attack: flags.attack,
      round: view.current()?.round ?? 0,
      sybils: sybils.length,
      connections: isStreamFlood(flags.attack) ? 1 + extras.length : 0,
      honestPeers: view.fresh().length,
      connectedHonest: view
        .peers()
        .filter((p) => peer.getConnections().some((c) => c.remotePeer.toString() === p)).length,
      forged: forged ? [forged.modelSha256] : [],
    });
    // The figures go out as soon as the stop comes: streams still in flight may take their time to unwind.
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const flood = runFlood(flags.attack, {
      manifest,
      node: peer,
      connections: [peer, ...extras],
      sybils,
      nodeAdmission,
      view,
      random: seededRandom(flags.seed),
      signal,
      streams: flags.streams,
      rate: flags.rate,
      forged,
      tally,
    });
    flood.catch(() => {}); // after a stop, whatever it throws is the stop's doing
    await Promise.race([flood, aborted]);
    stopped('interrupted');
    return 0;
  } catch (e) {
    if (signal.aborted) return (stopped('interrupted'), 0);
    emit({ event: 'error', name: (e as Error).name, message: (e as Error).message });
    process.stderr.write(`flood-attacker: ${(e as Error).name}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    dispose();
    await Promise.allSettled(extras.map((p) => p.stop()));
    await joined?.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));
// libp2p may keep a socket or timer alive after stop(); the attacker's work is done either way.
setTimeout(() => process.exit(), 5_000).unref();
