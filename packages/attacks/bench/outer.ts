/**
 * `npm run bench:outer`: what separates the swarm from centralized training at the same tokens (issue #13).
 * Every row is a clean run (no attacker) of `peers` honest peers through the swarm's own code paths
 * (simulation.ts: the job's codec with error feedback, `checkPayload`, `aggregate`, `nesterovStep`) with
 * one suspect changed — outer lr and momentum, top-k fraction, error feedback, local steps H, the merge
 * rule — beside the centralized baseline of the same problem and seed (`simulateCentralized`: one AdamW
 * on every peer's data, interleaved, for the same tokens). One JSON line per row:
 *
 *   {"bench":"outer","model","variant","outerLr","outerMomentum","codec","topkFraction","errorFeedback",
 *    "localSteps","aggregation","rounds","tokens","seeds","finalLoss","centralizedLoss","gapToCentralized"}
 *
 * Losses are held-out nats per byte, means over the seeds; gapToCentralized = finalLoss / centralizedLoss
 * − 1 (the mean over seeds of each seed's ratio). The first row is the job as shipped ("job").
 *
 * Full run (the lead's): the default job's model from its base checkpoint on the SLiM engine, every
 * combination of outer lr × momentum × codec × H, plus the merge-rule rows. `--quick` (a few minutes on 2
 * cores): the tiny naive-engine Performer from random weights, and only the rows
 * that change one thing from the job — the same suspects, a smaller world.
 *
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/outer.ts [--json] [--quick] [--model tiny|job] [--seeds n]
 *     [--rounds n] [--peers n] [--threads n] [--only name,…]
 */
import { isDeepStrictEqual } from 'node:util';
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { JobManifest } from '@slimswarm/protocol';
import { defaultManifest } from '@slimswarm/default-job/job';
import { Command } from 'commander';
import { z } from 'zod';
import { performer, simulate, simulateCentralized, type Overlap, type Problem } from '../src/index.js';
import { jobModel } from './job-model.js';

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    model: z.enum(['tiny', 'job']).optional(),
    seeds: z.coerce.number().int().min(1).max(10).optional(),
    rounds: z.coerce.number().int().min(1).max(1000).optional(),
    peers: z.coerce.number().int().min(1).max(32),
    threads: z.coerce.number().int().min(1).max(64),
    /** Only the rows whose name contains one of these (comma-separated). */
    only: z
      .string()
      .min(1)
      .transform((s) => s.split(','))
      .optional(),
  })
  .strict();
type Flags = z.infer<typeof Flags>;

function parseFlags(argv: string[]): Flags {
  const program = new Command('bench:outer')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'tiny model, the one-change rows only', false)
    .option('--model <which>', 'tiny (naive engine, random start) or job (the default job and its base)')
    .option('--seeds <n>', 'seeds 1 … n (default 2)')
    .option('--rounds <n>', "rounds at the job's H (default 10, the demo's); other H keep the tokens")
    .option('--peers <n>', 'honest peers (the demo runs 3)', '3')
    .option('--threads <n>', 'onnxruntime threads (job model)', '1')
    .option('--only <names>', 'only the rows whose name contains one of these (comma-separated)');
  return parseCommandLineOrExit(program, argv, Flags);
}

/** One row's settings: what the job ships, with the suspects changed. */
interface Variant {
  name: string;
  outer: JobManifest['outer'];
  /** Its name in CODECS. */
  codec: string;
  localSteps: number;
  aggregation: JobManifest['aggregation'];
  overlap: Overlap;
}

const OUTER_LRS = [0.7, 1.0];
const MOMENTA = [0, 0.5, 0.9];
const LOCAL_STEPS = [4, 8];

/** The codec settings compared: dense, and top-k at 5 % and 20 % with and without error feedback. */
const CODECS: Record<string, JobManifest['compression']> = {
  dense: { codec: 'dense-f32', topkFraction: 1, errorFeedback: false },
  'topk5%+ef': { codec: 'topk-int8', topkFraction: 0.05, errorFeedback: true },
  'topk5%': { codec: 'topk-int8', topkFraction: 0.05, errorFeedback: false },
  'topk20%+ef': { codec: 'topk-int8', topkFraction: 0.2, errorFeedback: true },
  'topk20%': { codec: 'topk-int8', topkFraction: 0.2, errorFeedback: false },
};

/** Each row's name says what differs; the job's own settings are the first row, "job". */
function named(v: Omit<Variant, 'name'>, job: Omit<Variant, 'name'>): Variant {
  const rule = v.aggregation.rule === job.aggregation.rule ? '' : ` ${v.aggregation.rule}`;
  const overlap = v.overlap === 'none' ? '' : ` overlap ${v.overlap}`;
  return {
    ...v,
    name: `lr${v.outer.lr} mom${v.outer.momentum} ${v.codec} H${v.localSteps}${rule}${overlap}`,
  };
}

/**
 * The rows: the job first; then (quick) each suspect changed alone, or (full) every combination of outer
 * lr × momentum × codec × H; and the merge rule: plain mean instead of the job's robust rule, alone and
 * with every other suspect removed (dense, outer lr 1, no momentum: the average of the local models), at
 * the job's H and at H = 1.
 */
function variants(job: JobManifest, quick: boolean): Variant[] {
  const codec = Object.entries(CODECS).find(([, c]) => isDeepStrictEqual(c, job.compression))?.[0];
  if (codec === undefined)
    throw new Error(`the job's codec ${JSON.stringify(job.compression)} is not compared`);
  const shipped = {
    outer: job.outer,
    codec,
    localSteps: job.training.localSteps,
    aggregation: job.aggregation,
    overlap: 'none' as Overlap,
  };
  const rows: Variant[] = [{ ...named(shipped, shipped), name: 'job' }];
  const seen = new Set([named(shipped, shipped).name]);
  const add = (v: Omit<Variant, 'name'>): void => {
    const row = named(v, shipped);
    if (!seen.has(row.name)) rows.push(row);
    seen.add(row.name);
  };
  if (quick) {
    for (const lr of OUTER_LRS) add({ ...shipped, outer: { ...shipped.outer, lr } });
    for (const momentum of MOMENTA) add({ ...shipped, outer: { ...shipped.outer, momentum } });
    for (const codec of Object.keys(CODECS)) add({ ...shipped, codec });
    for (const localSteps of LOCAL_STEPS) add({ ...shipped, localSteps });
    // The client's rounds overlap the next steps with the close (rounds.ts): what staleness costs.
    for (const overlap of ['from-local', 'from-shared'] as const) add({ ...shipped, overlap });
  } else {
    for (const lr of OUTER_LRS)
      for (const momentum of MOMENTA)
        for (const codec of Object.keys(CODECS))
          for (const localSteps of LOCAL_STEPS)
            add({ ...shipped, outer: { kind: 'nesterov', lr, momentum }, codec, localSteps });
  }
  const mean: JobManifest['aggregation'] = { rule: 'mean', normBound: job.aggregation.normBound };
  add({ ...shipped, aggregation: mean });
  const average = {
    outer: { kind: 'nesterov', lr: 1, momentum: 0 },
    codec: 'dense',
    aggregation: mean,
  } as const;
  add({ ...shipped, ...average });
  // One local step per round, averaged: close to synchronous data parallel with a batch of `peers`
  // sequences per step — centralized with the swarm's batch instead of one sequence per step.
  add({ ...shipped, ...average, localSteps: 1 });
  return rows;
}

/** The job's manifest for a problem of `params` parameters (the tiny model is not the job's). */
function withParams(manifest: JobManifest, params: number): JobManifest {
  return { ...manifest, baseCheckpoint: { ...manifest.baseCheckpoint, params, bytes: params * 4 } };
}

interface Row {
  bench: 'outer';
  model: 'tiny' | 'job';
  variant: string;
  outerLr: number;
  outerMomentum: number;
  codec: string;
  topkFraction: number;
  errorFeedback: boolean;
  localSteps: number;
  aggregation: string;
  overlap: Overlap;
  rounds: number;
  tokens: number;
  seeds: number;
  finalLoss: number;
  centralizedLoss: number;
  gapToCentralized: number;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const which = flags.model ?? (flags.quick ? 'tiny' : 'job');
  const seeds = Array.from({ length: flags.seeds ?? 2 }, (_, i) => i + 1);
  const job = which === 'job' ? await jobModel(flags.threads) : null;
  const shipped =
    job?.manifest ?? defaultManifest({ sha256: '0'.repeat(64), bytes: 4, params: 1 }, '0'.repeat(64));
  const budgetRounds = flags.rounds ?? 10;
  // Tokens are fixed by the job's H: a row with another H runs as many rounds as keep them.
  const stepsPerPeer = budgetRounds * shipped.training.localSteps;
  const problems = new Map<number, Problem>();
  const problemFor = async (localSteps: number): Promise<Problem> => {
    let p = problems.get(localSteps);
    if (!p) {
      p = await performer({
        peers: flags.peers,
        seqLen: shipped.training.seqLen,
        localSteps,
        optimizer: shipped.training.inner,
        corpusBytes: 400_000,
        heldOutSequences: flags.quick ? 8 : 24,
        ...(job ? { model: job.model } : {}),
      });
      problems.set(localSteps, p);
    }
    return p;
  };
  const roundsFor = (localSteps: number): number => {
    if (stepsPerPeer % localSteps !== 0)
      throw new Error(`H = ${localSteps} does not divide ${stepsPerPeer} steps per peer`);
    return stepsPerPeer / localSteps;
  };
  const centralized = new Map<string, number>(); // `${H}/${seed}` → final loss
  const centralLoss = async (localSteps: number, seed: number): Promise<number> => {
    const key = `${localSteps}/${seed}`;
    if (!centralized.has(key)) {
      const run = await simulateCentralized({
        problem: await problemFor(localSteps),
        peers: flags.peers,
        rounds: roundsFor(localSteps),
        seed,
      });
      centralized.set(key, run.finalLoss);
    }
    return centralized.get(key)!;
  };

  const rows = variants(shipped, flags.quick).filter(
    (v) => !flags.only || flags.only.some((part) => v.name.includes(part)),
  );
  for (const v of rows) {
    const problem = await problemFor(v.localSteps);
    const manifest = JobManifest.parse({
      ...withParams(shipped, problem.params),
      outer: v.outer,
      compression: CODECS[v.codec],
      aggregation: v.aggregation,
      training: { ...shipped.training, localSteps: v.localSteps },
    });
    const rounds = roundsFor(v.localSteps);
    const losses: number[] = [];
    const centrals: number[] = [];
    for (const seed of seeds) {
      const run = await simulate({
        problem,
        manifest,
        peers: flags.peers,
        byzantine: 0,
        attack: null,
        rounds,
        seed,
        overlap: v.overlap,
      });
      losses.push(run.finalLoss);
      centrals.push(await centralLoss(v.localSteps, seed));
    }
    const compression = manifest.compression;
    print(flags.json, {
      bench: 'outer',
      model: which,
      variant: v.name,
      outerLr: v.outer.lr,
      outerMomentum: v.outer.momentum,
      codec: v.codec,
      topkFraction: compression.codec === 'topk-int8' ? compression.topkFraction : 1,
      errorFeedback: compression.codec === 'topk-int8' && compression.errorFeedback,
      localSteps: v.localSteps,
      aggregation: v.aggregation.rule,
      overlap: v.overlap,
      rounds,
      tokens: stepsPerPeer * flags.peers * shipped.training.seqLen,
      seeds: seeds.length,
      finalLoss: round4(mean(losses)),
      centralizedLoss: round4(mean(centrals)),
      gapToCentralized: round4(mean(losses.map((loss, i) => loss / centrals[i]! - 1))),
    });
  }
  await job?.model.engine.dispose();
}

function print(json: boolean, row: Row): void {
  console.log(
    json
      ? JSON.stringify(row)
      : `${row.variant.padEnd(40)} loss ${row.finalLoss.toFixed(4)} vs centralized ` +
          `${row.centralizedLoss.toFixed(4)} (${(100 * row.gapToCentralized).toFixed(1)} %)`,
  );
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function round4(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : x;
}

await main();
