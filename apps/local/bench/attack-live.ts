// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * The live row of the attack benchmark: one Byzantine volunteer against a real swarm on the default job.
 *
 *   1. clean: a coordinator and 3 workers as OS processes on loopback (apps/local's startLocalSwarm, the
 *      same as `npm run demo`), each on its own shard, worker 0 scoring the held-out split every round,
 *      for R rounds;
 *   2. attacked: the same again (fresh folders, the same shards) plus attacker.ts, a fourth process that
 *      joins the running swarm through our own client and swarm code as a 'worker' peer and contributes
 *      the attack vector every round (attack-vectors.ts);
 *
 * then prints one line: worker 0's held-out loss after round R and the swarm's tokens/s (the sum over the
 * 3 workers of their mean round tokensPerSec, as the demo computes it) in both runs, and what the attacker
 * got through. The merge rule is whatever the coordinator's manifest names (reported as `aggregation`).
 *
 *   node --conditions=@slimswarm/source --import tsx apps/local/bench/attack-live.ts [--json] [--quick] [--rounds N] [--attack gaussian|sign-flip]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { fetchJob } from '@slimswarm/client';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { prepareCorpus, startLocalSwarm, type LocalSwarm } from '../src/local-swarm.js';
import { spawnJsonChild, type JsonChild } from '../src/processes.js';
import { AttackerEvent } from './attacker-events.js';
import {
  LiveAttackFailedError,
  OutputTail,
  RunningProcesses,
  childStep,
  diesEarly,
  firstFailure,
  freePort,
  is,
  within,
} from './live-harness.js';

export { LiveAttackFailedError };

const WORKERS = 3;
const ATTACKER_ENTRY = 'apps/local/bench/attacker.ts';
/** Generous bounds for a loaded 2-core machine: joining, and each round (the job's deadline is 20 s). */
const JOIN_TIMEOUT_MS = 240_000;
const PER_ROUND_TIMEOUT_MS = 90_000;

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    rounds: z.coerce.number().int().min(1).max(10_000).optional(),
    attack: z.enum(['gaussian', 'sign-flip']),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    verbose: z.boolean(),
  })
  .strict();
type Flags = z.infer<typeof Flags>;

function parseFlags(argv: string[]): Flags {
  const program = new Command('attack-live')
    .description('One attacker against a live local swarm on the default job: clean vs attacked run.')
    .option('--json', 'one JSON line only', false)
    .option('--quick', 'smoke run: 6 rounds', false)
    .option('--rounds <n>', 'rounds per run (default 20; 6 with --quick)')
    .option('--attack <name>', 'gaussian or sign-flip', 'gaussian')
    .option('--seed <n>', "seed of the attacker's gaussian draws", '1')
    .option('--verbose', "show every process's own output on stderr", false);
  return parseCommandLineOrExit(program, argv, Flags);
}

type AttackerOf<E extends AttackerEvent['event']> = Extract<AttackerEvent, { event: E }>;
const attackerIs =
  <E extends AttackerEvent['event']>(event: E) =>
  (e: AttackerEvent): e is AttackerOf<E> =>
    e.event === event;

/** The attacker's next milestone, or a failure that says what it did not do and why. */
function attackerStep<T extends AttackerEvent>(
  child: JsonChild<AttackerEvent>,
  match: (e: AttackerEvent) => e is T,
  what: string,
): Promise<T> {
  return childStep(child, match, what, JOIN_TIMEOUT_MS);
}

interface AttackerFigures {
  peerId: string;
  joinedAtRound: number;
  contributions: number;
  refused: number;
  /** Rounds worker 0 merged with the attacker among the contributors. */
  mergedRounds: number;
  refusalReasons: string[];
}

interface RunFigures {
  aggregation: string;
  normBound: number;
  heldOutLossBase: number;
  heldOutLoss: number;
  /** The model round whose held-out loss is reported: R, or the nearest below when worker 0 skipped R. */
  heldOutRound: number;
  tokensPerSec: number;
  /** Wall seconds per round at worker 0, eval of round 0 to its last eval (includes the merge waits). */
  secondsPerRound: number;
  /** What worker 0 refused over the run, by reason. */
  workerRejected: Record<string, number>;
  resyncs: number;
  attacker: AttackerFigures | null;
}

async function runSwarm(opts: {
  corpus: Awaited<ReturnType<typeof prepareCorpus>>;
  outDir: string;
  rounds: number;
  attack: Flags['attack'] | null;
  seed: number;
  tail: OutputTail;
  say: (line: string) => void;
  running: RunningProcesses;
}): Promise<RunFigures> {
  const { rounds, tail, say } = opts;
  let attacker: JsonChild<AttackerEvent> | null = null;
  let swarm: LocalSwarm | null = null;
  const stopAll = async (): Promise<void> => {
    await attacker?.stop();
    await swarm?.stop();
  };
  return opts.running.with(stopAll, async () => {
    // The attacker's process starts first and loads its code before the workers start theirs, so that
    // the attacked run's workers start up on the same CPU as the clean run's.
    const port = await freePort();
    if (opts.attack) {
      attacker = spawnJsonChild(AttackerEvent, {
        label: 'attacker',
        entry: ATTACKER_ENTRY,
        args: [
          '--coordinator',
          `http://127.0.0.1:${port}/`,
          '--attack',
          opts.attack,
          '--seed',
          String(opts.seed),
          '--trainers',
          String(WORKERS + 1),
        ],
        log: tail.log,
      });
      await attackerStep(attacker, attackerIs('loaded'), 'start');
    }
    swarm = await startLocalSwarm({
      peers: WORKERS,
      corpus: opts.corpus,
      outDir: opts.outDir,
      rounds,
      port,
      threadsPerWorker: 1,
      log: tail.log,
    });
    const w0 = swarm.workers[0]!;
    const evalAt = new Map<number, number>();
    w0.onEvent((e) => {
      if (e.event !== 'eval') return;
      evalAt.set(e.round, Date.now());
      say(`  round ${e.round}: held-out loss ${e.heldOutLoss.toFixed(4)}`);
    });
    const { manifest } = await fetchJob(swarm.url);
    const failed = firstFailure(swarm.workers);
    failed.catch(() => {}); // raced below; never unhandled
    if (attacker) {
      // It connects and fetches the base, then waits; it joins the rounds (its replica, from the
      // verified base) once every worker holds the base model, before any of them can have finished
      // round 0's local steps, so it takes part from round 0 on.
      await Promise.race([attackerStep(attacker, attackerIs('waiting'), 'connect'), failed]);
      await Promise.race([
        Promise.all(swarm.workers.map((w) => w.waitFor(is('synced'), JOIN_TIMEOUT_MS))),
        failed,
      ]);
      attacker.process.kill('SIGUSR2');
      const joined = await Promise.race([attackerStep(attacker, attackerIs('joined'), 'join'), failed]);
      const closed = w0.events.filter(is('round')).length;
      say(
        `  attacker joined at round ${joined.round} (${joined.peerId.slice(-8)}; worker 0 had closed ${closed})`,
      );
    }
    const attackerDied = attacker
      ? diesEarly(attacker, 'while the workers ran')
      : new Promise<never>(() => {});
    await within(
      Promise.race([Promise.all(swarm.workers.map((w) => w.exited)), failed, attackerDied]),
      JOIN_TIMEOUT_MS + rounds * PER_ROUND_TIMEOUT_MS,
      `the workers did not finish ${rounds} rounds`,
    );

    let attackerFigures: AttackerFigures | null = null;
    if (attacker) {
      const code = await attacker.stop();
      const error = attacker.events.find(attackerIs('error'));
      if (code !== 0 || error) {
        throw new LiveAttackFailedError(
          `the attacker failed (code ${code})${error ? `: ${error.name}: ${error.message}` : ''}`,
        );
      }
      const joined = attacker.events.find(attackerIs('joined'))!;
      const refusals = attacker.events.filter(attackerIs('refused'));
      attackerFigures = {
        peerId: joined.peerId,
        joinedAtRound: joined.round,
        contributions: attacker.events.filter(attackerIs('contributed')).length,
        refused: refusals.length,
        mergedRounds: w0.events.filter(is('round')).filter((e) => e.contributors.includes(joined.peerId))
          .length,
        refusalReasons: [...new Set(refusals.map((r) => r.reason.split(':')[0]!))],
      };
    }
    await swarm.coordinator.stop();

    const evals = w0.events.filter(is('eval'));
    const base = evals.find((e) => e.round === 0);
    // The model of round R; a worker whose delta joined a later round (it was slow) skips one, and then
    // its last model is past R: the one closest to R below it, else its last.
    const last =
      evals.find((e) => e.round === rounds) ?? evals.filter((e) => e.round < rounds).at(-1) ?? evals.at(-1);
    if (!base || !last || last.round === 0) {
      throw new LiveAttackFailedError(
        'worker 0 did not report held-out losses for the base and a later model',
      );
    }
    const rates = swarm.workers.map((w) => {
      const rs = w.events.filter(is('round'));
      return rs.reduce((sum, r) => sum + r.tokensPerSec, 0) / Math.max(1, rs.length);
    });
    const lastRounds = swarm.workers.map((w) => w.events.filter(is('round')).at(-1));
    return {
      aggregation: manifest.aggregation.rule,
      normBound: manifest.aggregation.normBound,
      heldOutLossBase: base.heldOutLoss,
      heldOutLoss: last.heldOutLoss,
      heldOutRound: last.round,
      tokensPerSec: rates.reduce((a, b) => a + b, 0),
      secondsPerRound: (evalAt.get(last.round)! - evalAt.get(0)!) / 1000 / last.round,
      workerRejected: lastRounds[0]?.rejected ?? {},
      resyncs: lastRounds.reduce((n, r) => n + (r?.resyncs ?? 0), 0),
      attacker: attackerFigures,
    };
  });
}

const round4 = (x: number): number => Number(x.toFixed(4));

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const rounds = flags.rounds ?? (flags.quick ? 6 : 20);
  const say = (line: string): void => {
    if (!flags.json) process.stderr.write(line + '\n');
  };
  const tail = new OutputTail(flags.verbose);
  const dir = await mkdtemp(join(tmpdir(), 'slimswarm-attack-live-'));
  // Interrupted: stop the run's processes (SIGINT, then SIGKILL after a grace), clean up, exit 130.
  const running = new RunningProcesses('attack-live', dir);
  try {
    const corpus = await prepareCorpus({ outDir: join(dir, 'corpus'), shards: WORKERS });
    const common = { corpus, rounds, seed: flags.seed, tail, say, running };
    say(`clean: ${WORKERS} workers × ${rounds} rounds…`);
    const clean = await runSwarm({ ...common, outDir: join(dir, 'clean'), attack: null });
    say(`attacked: ${WORKERS} workers + 1 ${flags.attack} attacker × ${rounds} rounds…`);
    const attacked = await runSwarm({ ...common, outDir: join(dir, 'attacked'), attack: flags.attack });
    const a = attacked.attacker!;
    const row = {
      live: true,
      attack: flags.attack,
      byzantine: 1,
      peers: WORKERS + 1,
      rounds,
      heldOutLossClean: round4(clean.heldOutLoss),
      heldOutLossAttacked: round4(attacked.heldOutLoss),
      lossVsClean: round4(attacked.heldOutLoss / clean.heldOutLoss - 1),
      tokensPerSecClean: Math.round(clean.tokensPerSec),
      tokensPerSecAttacked: Math.round(attacked.tokensPerSec),
      tokensPerSecVsClean: round4(attacked.tokensPerSec / clean.tokensPerSec - 1),
      attackerContributions: a.contributions,
      // Beyond the row itself: what the figures rest on.
      aggregation: attacked.aggregation,
      normBound: attacked.normBound,
      heldOutLossBase: round4(clean.heldOutLossBase),
      heldOutRoundClean: clean.heldOutRound,
      heldOutRoundAttacked: attacked.heldOutRound,
      secondsPerRoundClean: Number(clean.secondsPerRound.toFixed(2)),
      secondsPerRoundAttacked: Number(attacked.secondsPerRound.toFixed(2)),
      attackerJoinedAtRound: a.joinedAtRound,
      attackerMergedRounds: a.mergedRounds,
      attackerRefused: a.refused,
      attackerRefusalReasons: a.refusalReasons,
      workerRejectedAttacked: attacked.workerRejected,
      resyncsClean: clean.resyncs,
      resyncsAttacked: attacked.resyncs,
    };
    if (flags.json) process.stdout.write(JSON.stringify(row) + '\n');
    else {
      const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} %`;
      process.stdout.write(
        `live ${row.attack} attack, 1 attacker + ${WORKERS} workers, ${rounds} rounds, merge rule ${row.aggregation}: ` +
          `held-out loss ${row.heldOutLossClean} clean → ${row.heldOutLossAttacked} attacked (${pct(row.lossVsClean)}; base ${row.heldOutLossBase}), ` +
          `tokens/s ${row.tokensPerSecClean} → ${row.tokensPerSecAttacked} (${pct(row.tokensPerSecVsClean)}), ` +
          `s/round ${row.secondsPerRoundClean} → ${row.secondsPerRoundAttacked}; ` +
          `attacker joined at round ${row.attackerJoinedAtRound}, contributed ${row.attackerContributions} deltas, ` +
          `merged by worker 0 in ${row.attackerMergedRounds} rounds, ${row.attackerRefused} refused by its own replica\n`,
      );
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    if (running.stopping) return 130; // the run failed because we stopped it
    process.stderr.write(`attack-live: ${err.name}: ${err.message}${tail.text()}\n`);
    return 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
// A child's pipe or a libp2p handle in this process must not keep it alive once the figures are out.
setTimeout(() => process.exit(), 5_000).unref();
