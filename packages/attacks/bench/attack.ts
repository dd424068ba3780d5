/**
 * `npm run bench:attack`: the standard poisoning attacks against the swarm's merge, on the synthetic
 * problem and on a real (tiny) Performer, f = 1, 2, 3 Byzantine of 8 peers, several seeds, the chosen
 * defence beside plain `mean` (no defence, which the attacks must visibly wreck). One JSON line per row:
 *
 *   {"problem","rule","attack","byzantine","peers","seed","finalLoss","cleanFinalLoss","lossVsClean",
 *    "maxWeightShift","rejected","clipped"}
 *
 * The clean run of a row is the same honest peers (8 − f) on the same seed with the f identities silent:
 * what the row shows is what the attack did. Rows with attack "none" and f = 0 compare the rules' clean
 * losses (the defence against today's sparse-trimmed-mean). `--live` adds the row on real processes
 * (apps/local/bench/attack-live.ts). `--quick`: a subset in under 2 minutes.
 *
 * `--resource` adds the resource-flood rows (issue #12; apps/local/bench/flood-live.ts): each flood for
 * 60 s (10 s with --quick) against 8 honest workers on loopback, beside a clean run of the same
 * invocation, one `{"bench":"attack-resource", …}` line per row. `--problem none` runs only those.
 *
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/attack.ts [--json] [--quick] [--live] [--resource]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import '@slimswarm/node-compat';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { DEFAULT_AGGREGATION } from '@slimswarm/default-job';
import type { JobManifest } from '@slimswarm/protocol';
import { syntheticManifest } from '@slimswarm/swarm/synthetic-problem';
import { Command } from 'commander';
import { z } from 'zod';
import {
  ATTACKS,
  performer,
  simulate,
  synthetic,
  type AttackName,
  type Problem,
  type RunResult,
} from '../src/index.js';

const PEERS = 8;

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    live: z.boolean(),
    resource: z.boolean(),
    problem: z.enum(['all', 'synthetic', 'performer', 'none']),
    seeds: z.coerce.number().int().min(1).max(10).optional(),
  })
  .strict();

function parseFlags(argv: string[]): z.infer<typeof Flags> {
  const program = new Command('bench:attack')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'a subset: one seed, f = 2, both problems', false)
    .option('--live', 'also the row on real processes (coordinator, 3 workers, 1 attacker)', false)
    .option(
      '--resource',
      'also the resource floods on real processes (coordinator, 8 workers, 1 attacker)',
      false,
    )
    .option('--problem <name>', 'all, synthetic, performer or none (only --live / --resource rows)', 'all')
    .option('--seeds <n>', 'seeds 1 … n (default 3; --quick 1)');
  return parseCommandLineOrExit(program, argv, Flags);
}

type Aggregation = JobManifest['aggregation'];

/** The defence the default job ships (docs/swarm-protocol.md §5b), the baseline and today's rule, at one norm bound. */
export function rules(normBound: number): Record<string, Aggregation> {
  return {
    'clipped-trimmed-mean': { ...DEFAULT_AGGREGATION, normBound },
    mean: { rule: 'mean', normBound },
    'sparse-trimmed-mean': { rule: 'sparse-trimmed-mean', normBound, trimFraction: 0.2 },
  };
}

interface Setting {
  problem: Problem;
  manifest: (aggregation: Aggregation) => JobManifest;
  rounds: number;
  /** The job's norm bound, well above an honest delta (1.08 synthetic, 1.29 Performer at round 0). */
  normBound: number;
}

async function settings(quick: boolean): Promise<Setting[]> {
  const job = (aggregation: Aggregation, outer = { lr: 0.7, momentum: 0.9 }) =>
    syntheticManifest({ baseSha256: '0'.repeat(64), params: 1, aggregation, outer });
  const synth = synthetic({ params: 32_768, localSteps: 10, lr: 0.5 });
  const tiny = await performer({
    peers: PEERS,
    seqLen: 32,
    localSteps: 2,
    optimizer: { kind: 'adamw', lr: 1e-2 },
    corpusBytes: 400_000,
    heldOutSequences: quick ? 8 : 16,
  });
  const withParams = (p: Problem, m: JobManifest): JobManifest => ({
    ...m,
    baseCheckpoint: { ...m.baseCheckpoint, params: p.params, bytes: p.params * 4 },
  });
  return [
    {
      problem: synth,
      manifest: (a) => withParams(synth, job(a)),
      rounds: quick ? 15 : 30,
      normBound: 20,
    },
    {
      problem: tiny,
      manifest: (a) => withParams(tiny, job(a, { lr: 0.7, momentum: 0.5 })),
      rounds: quick ? 6 : 12,
      normBound: 50,
    },
  ];
}

interface Row {
  problem: string;
  rule: string;
  attack: AttackName | 'none';
  byzantine: number;
  peers: number;
  seed: number;
  finalLoss: number;
  cleanFinalLoss: number;
  lossVsClean: number;
  maxWeightShift: number;
  rejected: number;
  clipped: number;
}

function maxShift(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const seeds = Array.from({ length: flags.seeds ?? (flags.quick ? 1 : 3) }, (_, i) => i + 1);
  const fs = flags.quick ? [2] : [1, 2, 3];
  const attacks: readonly AttackName[] = flags.quick ? ['sign-flip', 'alie', 'spike'] : ATTACKS;
  const print = (row: Row) =>
    console.log(
      flags.json
        ? JSON.stringify(row)
        : `${row.problem.padEnd(10)} ${row.rule.padEnd(21)} ${row.attack.padEnd(9)} f=${row.byzantine} ` +
            `seed=${row.seed} loss ${row.finalLoss.toFixed(4)} vs clean ${row.cleanFinalLoss.toFixed(4)} ` +
            `(${(100 * row.lossVsClean).toFixed(1)} %) shift ${row.maxWeightShift.toFixed(3)} ` +
            `rejected ${row.rejected} clipped ${row.clipped}`,
    );
  const simulated = flags.problem === 'none' ? [] : await settings(flags.quick);
  for (const s of simulated.filter((x) => flags.problem === 'all' || x.problem.name === flags.problem)) {
    const all = rules(s.normBound);
    const run = (
      rule: string,
      byzantine: number,
      attack: AttackName | null,
      seed: number,
    ): Promise<RunResult> =>
      simulate({
        problem: s.problem,
        manifest: s.manifest(all[rule]!),
        peers: PEERS,
        byzantine,
        attack,
        rounds: s.rounds,
        seed,
      });
    for (const seed of seeds) {
      // The rules' clean losses with all 8 peers honest.
      const reference = await run('sparse-trimmed-mean', 0, null, seed);
      for (const rule of ['clipped-trimmed-mean', 'mean', 'sparse-trimmed-mean']) {
        const clean = rule === 'sparse-trimmed-mean' ? reference : await run(rule, 0, null, seed);
        print(row(s.problem.name, rule, 'none', 0, seed, clean, reference));
      }
      for (const rule of ['clipped-trimmed-mean', 'mean']) {
        for (const f of fs) {
          const clean = await run(rule, f, null, seed);
          for (const attack of attacks)
            print(row(s.problem.name, rule, attack, f, seed, await run(rule, f, attack, seed), clean));
        }
      }
    }
  }
  if (flags.live) await live('attack-live.ts', flags.quick, flags.json);
  if (flags.resource) await live('flood-live.ts', flags.quick, flags.json);
}

function row(
  problem: string,
  rule: string,
  attack: AttackName | 'none',
  byzantine: number,
  seed: number,
  result: RunResult,
  clean: RunResult,
): Row {
  return {
    problem,
    rule,
    attack,
    byzantine,
    peers: PEERS,
    seed,
    finalLoss: round4(result.finalLoss),
    cleanFinalLoss: round4(clean.finalLoss),
    lossVsClean: round4(result.finalLoss / clean.finalLoss - 1),
    maxWeightShift: round4(maxShift(result.weights, clean.weights)),
    rejected: result.rejected,
    clipped: result.clipped,
  };
}

function round4(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : x;
}

/**
 * The live rows run real processes (apps/local/bench/attack-live.ts: a coordinator, 3 workers and 1
 * attacking worker on loopback, the default job; flood-live.ts: a coordinator, 8 workers and 1 flood
 * attacker per row); each is started by path, and its JSON lines passed on.
 */
async function live(entry: 'attack-live.ts' | 'flood-live.ts', quick: boolean, json: boolean): Promise<void> {
  const script = fileURLToPath(new URL(`../../../apps/local/bench/${entry}`, import.meta.url));
  const args = [
    '--conditions=@slimswarm/source',
    '--import',
    'tsx',
    script,
    ...(json ? ['--json'] : []),
    ...(quick ? ['--quick'] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`${entry} exited with ${code}`);
}

await main();
