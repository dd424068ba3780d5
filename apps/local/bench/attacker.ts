// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * One Byzantine volunteer for the live attack benchmark (attack-live.ts starts it as a child process). It
 * takes part in a swarm exactly as a worker does — the coordinator's listing and the base checkpoint
 * verified against the manifest (fetchJob, fetchBase), a 'worker' role Node peer dialled into the listed
 * peers (connectToSwarm, keepMeeting), a replica of the shared model (createSwarmReplica) — so its
 * heartbeats say `training` and the round rule waits for its delta like anyone else's. Each round it sends
 * the attack vector (attack-vectors.ts) through the swarm's own contribute(), instead of trained weights:
 *
 *   const base = replica.current();   w = base − attack;   await replica.contribute(base, w, stats);
 *   await replica.nextRound();
 *
 * Startup is split so that the attacker enters round 0 with the workers without racing them: it prints
 * `loaded` once its code is in (it may start before the coordinator, whose address it then polls),
 * connects and fetches the base, prints `waiting`, and creates its replica (from the verified base, as
 * every first peer of a job does) only when its parent sends SIGUSR2 — once every worker holds the base
 * model and none has trained yet. Prints JSON lines (attacker-events.ts). Stops on SIGINT/SIGTERM,
 * after --max-rounds contributions, when no other trainer has been active for --alone-timeout-ms, or when
 * its parent process is gone.
 *
 *   node --conditions=@slimswarm/source --import tsx apps/local/bench/attacker.ts --coordinator http://127.0.0.1:8700/ [--attack gaussian]
 */
import { Command } from 'commander';
import { z } from 'zod';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { weightsFromSafetensors } from '@slimswarm/client';
import {
  AlreadyContributedError,
  DeltaNormExceededError,
  StaleContributionError,
  createSwarmReplica,
  type ReplicaSnapshot,
  type SwarmReplica,
} from '@slimswarm/swarm';
import type { AttackerEvent } from './attacker-events.js';
import { attackerProcess, joinAsWorkerPeer, sleep, type JoinedAttacker } from './attacker-join.js';
import {
  flatten,
  gaussianAttack,
  l2,
  seededRandom,
  signFlipAttack,
  tensorNames,
  weightsMinus,
  type AttackName,
} from './attack-vectors.js';

const Flags = z
  .object({
    coordinator: z.string().url(),
    attack: z.enum(['gaussian', 'sign-flip']),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    fraction: z.coerce.number().gt(0).max(1),
    maxRounds: z.coerce.number().int().min(1).max(1_000_000),
    trainers: z.coerce.number().int().min(2).max(1_000),
    aloneTimeoutMs: z.coerce.number().int().min(1_000).max(3_600_000),
  })
  .strict();
type Flags = z.infer<typeof Flags>;

function parseFlags(argv: string[]): Flags {
  const program = new Command('attacker')
    .description('A Byzantine volunteer: joins a swarm and contributes an attack vector every round.')
    .requiredOption('--coordinator <url>', "the coordinator's HTTP address")
    .option('--attack <name>', 'gaussian or sign-flip', 'gaussian')
    .option('--seed <n>', 'seed of the gaussian draws', '1')
    .option('--fraction <f>', 'share of the coordinates the gaussian attack fills', '0.05')
    .option('--max-rounds <n>', 'stop after this many contributions', '100000')
    .option('--trainers <n>', 'active trainers (itself included) to wait for before the first delta', '2')
    .option('--alone-timeout-ms <ms>', 'stop when no other trainer was active this long', '120000');
  return parseCommandLineOrExit(program, argv, Flags);
}

const emit = (e: AttackerEvent): void => void process.stdout.write(JSON.stringify(e) + '\n');

/** How many contribute() attempts one round gets before the attacker waits for the next. */
const ATTEMPTS = 5;
/** Each refused attempt (norm bound after the codec) shrinks the vector by this factor. */
const SHRINK = 0.9;
const POLL_MS = 250;
/** At most this long the first delta waits for --trainers active trainers. */
const FIRST_WAIT_MS = 30_000;

class Attacker {
  contributed = 0;
  refused = 0;
  private readonly random: () => number;
  /** The model of the round before the current one (sign-flip's g_{r−1}). */
  private previous: ReplicaSnapshot | null = null;

  constructor(
    private readonly flags: Flags,
    private readonly replica: SwarmReplica,
    private readonly signal: AbortSignal,
  ) {
    this.random = seededRandom(flags.seed);
  }

  private vector(base: ReplicaSnapshot): Float32Array {
    const { manifest } = this.replica;
    const bound = manifest.aggregation.normBound;
    const names = tensorNames(base.weights);
    const current = flatten(base.weights, names);
    const name: AttackName = this.flags.attack;
    if (name === 'gaussian') return gaussianAttack(current.length, this.flags.fraction, bound, this.random);
    const keep = manifest.compression.codec === 'topk-int8' ? manifest.compression.topkFraction : null;
    const previous = this.previous ? flatten(this.previous.weights, names) : null;
    return signFlipAttack(current, previous, bound, keep);
  }

  /** Rounds until stopped; resolves with why it stopped. */
  async run(): Promise<string> {
    const { manifest } = this.replica;
    const { localSteps, seqLen, batchSize } = manifest.training;
    const startedAt = Date.now();
    let aloneSince: number | null = null;
    while (!this.signal.aborted) {
      if (this.contributed >= this.flags.maxRounds) return 'max rounds';
      const active = this.replica.activeContributors();
      // Never close rounds alone: wait until another trainer is active (the swarm left, or not there yet).
      if (active < 2) {
        aloneSince ??= Date.now();
        if (Date.now() - aloneSince > this.flags.aloneTimeoutMs) return 'no other trainer';
        await sleep(POLL_MS, this.signal);
        continue;
      }
      aloneSince = null;
      // The first delta waits (a while) until the others' heartbeats are in, as a first worker does.
      if (this.contributed === 0 && active < this.flags.trainers && Date.now() - startedAt < FIRST_WAIT_MS) {
        await sleep(POLL_MS, this.signal);
        continue;
      }
      const base = this.replica.current();
      const attack = this.vector(base);
      const norm = l2(attack);
      // Honest-looking figures: what a worker of this job reports for one round.
      const stats = { tokens: localSteps * seqLen * batchSize, steps: localSteps, meanLoss: 3 };
      let scale = 1;
      for (let attempt = 0; attempt < ATTEMPTS && !this.signal.aborted; attempt++) {
        const open = this.replica.current().round;
        try {
          const sent = await this.replica.contribute(
            base,
            weightsMinus(base.weights, scaled(attack, scale)),
            stats,
          );
          this.contributed++;
          emit({
            event: 'contributed',
            round: sent.round,
            baseRound: base.round,
            norm: norm * scale,
            wireBytes: sent.wireBytes,
            activeContributors: this.replica.activeContributors(),
          });
          break;
        } catch (e) {
          if (e instanceof AlreadyContributedError) break;
          this.refused++;
          emit({ event: 'refused', round: open, reason: `${(e as Error).name}: ${(e as Error).message}` });
          if (e instanceof DeltaNormExceededError) scale *= SHRINK;
          else if (e instanceof StaleContributionError) break;
          else throw e;
        }
      }
      this.replica.reportProgress({ step: (this.contributed + 1) * localSteps, loss: 3, tokensPerSec: 0 });
      try {
        await this.replica.nextRound(this.signal);
      } catch (e) {
        if (this.signal.aborted) break;
        throw e;
      }
      this.previous = base;
    }
    return 'interrupted';
  }
}

function scaled(v: Float32Array, k: number): Float32Array {
  return k === 1 ? v : Float32Array.from(v, (x) => x * k);
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const { signal, go, dispose } = attackerProcess();
  let joined: JoinedAttacker | null = null;
  let replica: SwarmReplica | null = null;
  let attacker: Attacker | null = null;
  try {
    emit({ event: 'loaded' });
    joined = await joinAsWorkerPeer(flags.coordinator, signal);
    const { peer, manifest, baseBytes, shapes } = joined;
    emit({ event: 'waiting', peerId: peer.peerId.toString() });
    await go;
    if (signal.aborted) {
      emit({ event: 'stopped', reason: 'interrupted before joining', contributed: 0, refused: 0, round: 0 });
      return 0;
    }
    // Whoever joined since we looked: dial them now rather than at the next meeting.
    await joined.meetNewcomers();
    replica = await createSwarmReplica({
      peer,
      manifest,
      initialWeights: weightsFromSafetensors(baseBytes),
      shapes,
    });
    replica.events.on('resync', (e) => emit({ event: 'resync', round: e.round, reason: e.reason }));
    emit({
      event: 'joined',
      peerId: peer.peerId.toString(),
      round: replica.current().round,
      peers: peer.getConnections().length,
    });
    attacker = new Attacker(flags, replica, signal);
    const reason = await attacker.run();
    emit({
      event: 'stopped',
      reason,
      contributed: attacker.contributed,
      refused: attacker.refused,
      round: replica.current().round,
    });
    return 0;
  } catch (e) {
    if (signal.aborted) {
      emit({
        event: 'stopped',
        reason: 'interrupted',
        contributed: attacker?.contributed ?? 0,
        refused: attacker?.refused ?? 0,
        round: 0,
      });
      return 0;
    }
    emit({ event: 'error', name: (e as Error).name, message: (e as Error).message });
    process.stderr.write(`attacker: ${(e as Error).name}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    dispose();
    await replica?.stop();
    await joined?.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));
// libp2p may keep a socket or timer alive after stop(); the attacker's work is done either way.
setTimeout(() => process.exit(), 5_000).unref();
