// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * The resource-flood rows of the attack benchmark (issue #12): each flood against an honest swarm of
 * real processes on loopback, beside a clean run measured in the same invocation (the machines are
 * shared and noisy: ratios only within one run). Per row, a fresh swarm — a coordinator and W workers
 * (apps/local's startLocalSwarm, one compute thread each) on a copy of the default job with fewer local
 * steps (--local-steps: 8 workers on 2 cores still close real rounds) — warms up until every worker has
 * closed --warmup rounds; then flood-attacker.ts (started before the workers, joined and waiting) floods
 * for --seconds while /proc is read for every worker (proc-sampler.ts). One JSON line per row
 * (flood-rows.ts), the clean row first.
 *
 *   node --conditions=@slimswarm/source --import tsx apps/local/bench/flood-live.ts [--json] [--quick] [--seconds S] [--attacks a,b]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { loadOrCreateJobKey } from '@slimswarm/coordinator';
import { writeSmallJob } from '@slimswarm/default-job';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { prepareCorpus, startLocalSwarm, type LocalSwarm } from '../src/local-swarm.js';
import { spawnJsonChild, type JsonChild } from '../src/processes.js';
import type { VolunteerEvent } from '@slimswarm/client';
import { FLOODS, type FloodName } from './flood-attacks.js';
import { FloodEvent } from './flood-events.js';
import { describe, toRow, type Measured, type WorkerTimeline } from './flood-rows.js';
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
import { ProcessWindow } from './proc-sampler.js';

const ATTACKER_ENTRY = 'apps/local/bench/flood-attacker.ts';
/** Generous bounds for 8 workers on a loaded 2-core machine. */
const START_TIMEOUT_MS = 400_000;
const WARMUP_TIMEOUT_MS = 400_000;
const STAGGER_MS = 5_000;
/** A row whose swarm failed to start (before its window) is run again, at most this often. */
const START_ATTEMPTS = 3;

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    seconds: z.coerce.number().int().min(1).max(3_600).optional(),
    attacks: z
      .string()
      .transform((s) => (s === 'all' ? [...FLOODS] : s.split(',')))
      .pipe(z.array(z.enum(FLOODS)).min(1)),
    workers: z.coerce.number().int().min(2).max(32),
    localSteps: z.coerce.number().int().min(1).max(64),
    warmup: z.coerce.number().int().min(1).max(20).optional(),
    verbose: z.boolean(),
  })
  .strict();
type Flags = z.infer<typeof Flags>;

function parseFlags(argv: string[]): Flags {
  const program = new Command('flood-live')
    .description('Resource floods against a live local swarm: a clean run, then one row per flood.')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'smoke run: 20 s per row, 1 warm-up round', false)
    .option('--seconds <s>', 'flood (and clean) window per row (default 60; 20 with --quick)')
    .option('--attacks <list>', `comma-separated, or all: ${FLOODS.join(', ')}`, 'all')
    .option('--workers <n>', 'honest workers', '8')
    .option('--local-steps <n>', 'local steps per round (8 is too slow for 8 workers on 2 cores)', '2')
    .option('--warmup <n>', 'rounds every worker closes before the window (default 2; 1 with --quick)')
    .option('--verbose', "show every process's own output on stderr", false);
  return parseCommandLineOrExit(program, argv, Flags);
}

/**
 * The small job (default-job's small-job.ts: the default job's rules on a 116 k-parameter model, so eight
 * workers share two cores) with `localSteps` local steps, as manifest and base files for the coordinator.
 */
async function smallJobFiles(
  dir: string,
  localSteps: number,
): Promise<{ manifestPath: string; basePath: string }> {
  // Signed by the key every row's coordinator is given (copied into its run folder). The Sybils are
  // admitted at FLOOD_DIFFICULTY_BITS: each bound is measured against identities that paid their way in,
  // not only refused at the door (what admission itself costs is bench:admission's figure).
  const key = await loadOrCreateJobKey(join(dir, 'job.key'));
  const admission = { mode: 'open' as const, difficultyBits: FLOOD_DIFFICULTY_BITS };
  return writeSmallJob(dir, { jobKey: key.publicKey, admission, localSteps });
}

interface RowSetup {
  corpus: Awaited<ReturnType<typeof prepareCorpus>>;
  manifestPath: string;
  basePath: string;
  outDir: string;
  workers: number;
  seconds: number;
  warmup: number;
  tail: OutputTail;
  running: RunningProcesses;
  say: (line: string) => void;
}

type FloodOf<E extends FloodEvent['event']> = Extract<FloodEvent, { event: E }>;
const floodIs =
  <E extends FloodEvent['event']>(event: E) =>
  (e: FloodEvent): e is FloodOf<E> =>
    e.event === event;

/** The bench job's admission price: 256 hashes a stamp, so an attacker admits a thousand Sybils in a blink. */
const FLOOD_DIFFICULTY_BITS = 8;

/** One row, run again (up to START_ATTEMPTS) when its swarm fails before the window: a start-up flake. */
async function measure(attack: FloodName | null, s: RowSetup): Promise<Measured> {
  for (let attempt = 1; ; attempt++) {
    const progress = { windowOpen: false };
    try {
      return await measureOnce(attack, s, progress);
    } catch (e) {
      if (progress.windowOpen || s.running.stopping || attempt >= START_ATTEMPTS) throw e;
      const err = e as Error;
      s.say(`  the swarm did not start (${err.name}: ${err.message}); again…`);
    }
  }
}

async function measureOnce(
  attack: FloodName | null,
  s: RowSetup,
  progress: { windowOpen: boolean },
): Promise<Measured> {
  let attacker: JsonChild<FloodEvent> | null = null;
  let swarm: LocalSwarm | null = null;
  const stopAll = async (): Promise<void> => {
    await attacker?.stop();
    await swarm?.stop();
  };
  return s.running.with(stopAll, async () => {
    const port = await freePort();
    // Started first and left waiting, as attack-live.ts does: the workers start up on the same CPU as clean.
    if (attack) {
      attacker = spawnJsonChild(FloodEvent, {
        label: 'attacker',
        entry: ATTACKER_ENTRY,
        args: [
          '--coordinator',
          `http://127.0.0.1:${port}/`,
          '--attack',
          attack,
          '--honest',
          String(s.workers),
        ],
        log: s.tail.log,
      });
      await childStep(attacker, floodIs('loaded'), 'start', START_TIMEOUT_MS);
    }
    // One worker, then the others a few seconds apart: nine processes loading at once on 2 shared cores
    // starve each other past the workers' 10 s dial timeout.
    swarm = await startLocalSwarm({
      peers: 1,
      corpus: s.corpus,
      outDir: s.outDir,
      port,
      threadsPerWorker: 1,
      manifestPath: s.manifestPath,
      basePath: s.basePath,
      jobKeyPath: join(s.outDir, '..', 'job.key'),
      // No held-out scoring: worker 0 would be the slowest peer of every round, and loss is not the figure.
      heldOutEval: false,
      log: s.tail.log,
    });
    const timelines: WorkerTimeline[] = [];
    let from = Infinity;
    const track = (w: JsonChild<VolunteerEvent>): void => {
      const t: WorkerTimeline = { rounds: [], resyncs: [] };
      timelines.push(t);
      w.onEvent((e) => {
        if (e.event === 'round') t.rounds.push({ round: e.round, at: Date.now() });
        if (e.event === 'synced' && Date.now() >= from)
          t.resyncs.push({ modelSha256: e.modelSha256, at: Date.now() });
      });
    };
    track(swarm.workers[0]!);
    for (let i = 1; i < s.workers; i++) {
      await new Promise((r) => setTimeout(r, STAGGER_MS));
      track(swarm.startWorker(i));
    }
    const failed = firstFailure(swarm.workers);
    failed.catch(() => {});
    const guarded = <T>(p: Promise<T>, ms: number, what: string) =>
      within(Promise.race([p, failed]), ms, what);
    await guarded(
      Promise.all(swarm.workers.map((w) => w.waitFor(is('synced'), START_TIMEOUT_MS))),
      START_TIMEOUT_MS,
      'the workers did not sync',
    );
    if (attacker)
      await guarded(
        childStep(attacker, floodIs('waiting'), 'connect', START_TIMEOUT_MS),
        START_TIMEOUT_MS,
        'the attacker did not connect',
      );
    await guarded(
      Promise.all(
        swarm.workers.map((w) =>
          w.waitFor(
            (e): e is Extract<typeof e, { event: 'round' }> =>
              e.event === 'round' && w.events.filter(is('round')).length >= s.warmup,
            WARMUP_TIMEOUT_MS,
          ),
        ),
      ),
      WARMUP_TIMEOUT_MS,
      `the workers did not close ${s.warmup} warm-up rounds`,
    );
    let started: FloodOf<'started'> | null = null;
    const windows = swarm.workers.map((w) => new ProcessWindow(w.process.pid!));
    const attackerWindow = attacker ? new ProcessWindow(attacker.process.pid!) : null;
    if (attacker) {
      attacker.process.kill('SIGUSR2');
      started = await guarded(
        childStep(attacker, floodIs('started'), 'start its flood', START_TIMEOUT_MS),
        START_TIMEOUT_MS,
        'no flood',
      );
      s.say(
        `  ${attack}: ${started.sybils} Sybils, ${started.connections} connections, from round ${started.round}, ` +
          `directly connected to ${started.connectedHonest} of ${started.honestPeers} workers`,
      );
    }
    await Promise.all([...windows, ...(attackerWindow ? [attackerWindow] : [])].map((w) => w.start()));
    from = Date.now();
    progress.windowOpen = true;
    const died = attacker ? diesEarly(attacker, 'during its flood') : new Promise<never>(() => {});
    await Promise.race([new Promise((r) => setTimeout(r, s.seconds * 1000)), failed, died]);
    const to = Date.now();
    const figures = await Promise.all(windows.map((w) => w.finish()));
    const attackerCpu = attackerWindow ? (await attackerWindow.finish()).cpuSeconds : 0;
    let attackerFigures: Measured['attacker'] = null;
    if (attacker) {
      const a: JsonChild<FloodEvent> = attacker;
      await a.stop();
      const stopped = a.events.find(floodIs('stopped'));
      if (!stopped || !started) throw new LiveAttackFailedError('the attacker did not report what it sent');
      attackerFigures = {
        ...stopped,
        sybils: started.sybils + stopped.freshSybils,
        connections: started.connections,
        cpuSeconds: attackerCpu,
        forged: started.forged,
      };
    }
    return {
      attack: attack ?? 'none',
      seconds: s.seconds,
      workers: figures.map((window, i) => ({ window, timeline: timelines[i]! })),
      window: { from, to },
      attacker: attackerFigures,
    };
  });
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const say = (line: string): void => void (flags.json || process.stderr.write(line + '\n'));
  const print = (line: string): void => void process.stdout.write(line + '\n');
  const tail = new OutputTail(flags.verbose);
  const dir = await mkdtemp(join(tmpdir(), 'slimswarm-flood-live-'));
  const running = new RunningProcesses('flood-live', dir);
  try {
    const corpus = await prepareCorpus({ outDir: join(dir, 'corpus'), shards: flags.workers });
    const job = await smallJobFiles(dir, flags.localSteps);
    const setup = (name: string): RowSetup => ({
      corpus,
      ...job,
      outDir: join(dir, name),
      workers: flags.workers,
      // 20 s, not less, even quick: a clean round of 8 workers on 2 shared cores takes 6–10 s, and a
      // window shorter than two rounds cannot tell a slowed round from a normal one.
      seconds: flags.seconds ?? (flags.quick ? 20 : 60),
      warmup: flags.warmup ?? (flags.quick ? 1 : 2),
      tail,
      running,
      say,
    });
    say(`clean: ${flags.workers} workers, ${flags.localSteps} local steps a round…`);
    const clean = await measure(null, setup('clean'));
    const cleanRow = toRow(clean, null);
    print(flags.json ? JSON.stringify(cleanRow) : describe(cleanRow));
    for (const attack of flags.attacks) {
      say(`${attack}…`);
      try {
        const row = toRow(await measure(attack, setup(attack)), clean);
        print(flags.json ? JSON.stringify(row) : describe(row));
      } catch (e) {
        if (running.stopping) throw e;
        // A flood that crashes an honest worker is a result too: the row says so, and the others run.
        const error = `${(e as Error).name}: ${(e as Error).message}`;
        print(JSON.stringify({ bench: 'attack-resource', attack, error }));
        say(`  failed: ${error}${tail.text()}`);
      }
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    if (running.stopping) return 130;
    process.stderr.write(`flood-live: ${err.name}: ${err.message}${tail.text()}\n`);
    return 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
// A child's pipe or a libp2p handle in this process must not keep it alive once the figures are out.
setTimeout(() => process.exit(), 5_000).unref();
