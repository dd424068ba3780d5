// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * `npm run demo -- --peers 3 --rounds R --json`: a bounded experiment that exits by itself.
 *   1. the swarm: a coordinator and N workers, each on its own shard, for R rounds;
 *   2. solo: worker 0 alone on the same shard for R rounds (the same number of its own tokens);
 * and prints each run's held-out loss per round ({run, round, heldOutLoss}), then one final line {peers,
 * rounds, heldOutLossBase, heldOutLossSwarm, heldOutLossSolo, tokensPerSecTotal}. Held-out loss is
 * measured by worker 0 on the same held-out split in both runs.
 */
import { join } from 'node:path';
import type { VolunteerEvent } from '@slimswarm/client';
import { parseLaunchArgs, type LaunchOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { prepareCorpus, startLocalSwarm, type LocalSwarm } from './local-swarm.js';

type EvalEvent = Extract<VolunteerEvent, { event: 'eval' }>;
type RoundEvent = Extract<VolunteerEvent, { event: 'round' }>;

/** The demo could not produce its figures (a worker failed or reported nothing). */
export class DemoFailedError extends Error {
  static override name = 'DemoFailedError';
  override name = 'DemoFailedError';
}

async function runToEnd(swarm: LocalSwarm): Promise<{ evals: EvalEvent[]; rates: number[] }> {
  const codes = await Promise.all(swarm.workers.map((w) => w.exited));
  await swarm.coordinator.stop();
  const failed = codes.findIndex((c) => c !== 0);
  if (failed >= 0) {
    const error = swarm.workers[failed]!.events.find((e) => e.event === 'error');
    throw new DemoFailedError(
      `worker-${failed} exited with ${codes[failed]}${error ? `: ${error.message}` : ''}`,
    );
  }
  const evals = swarm.workers[0]!.events.filter((e): e is EvalEvent => e.event === 'eval');
  const rates = swarm.workers.map((w) => {
    const rounds = w.events.filter((e): e is RoundEvent => e.event === 'round');
    return rounds.reduce((sum, r) => sum + r.tokensPerSec, 0) / Math.max(1, rounds.length);
  });
  return { evals, rates };
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: LaunchOptions;
  try {
    opts = parseLaunchArgs('demo', 'A bounded swarm-vs-solo experiment on loopback.', argv);
  } catch (e) {
    if (isHelpExit(e)) return 0;
    process.stderr.write(`npm run demo: ${(e as Error).message}\n`);
    return 2;
  }
  const rounds = opts.rounds ?? 10;
  const say = (line: string): void => {
    if (!opts.json) process.stderr.write(line + '\n');
  };
  const log = opts.verbose
    ? (label: string, line: string) => process.stderr.write(`[${label}] ${line}\n`)
    : undefined;
  const corpus = await prepareCorpus({
    ...(opts.data ? { data: opts.data } : {}),
    outDir: join(opts.outDir, 'corpus'),
    shards: opts.peers,
  });
  const common = { corpus, rounds, port: opts.port, threadsPerWorker: opts.threads, ...(log ? { log } : {}) };

  say(`swarm: ${opts.peers} workers × ${rounds} rounds…`);
  const swarm = await runToEnd(
    await startLocalSwarm({ ...common, peers: opts.peers, outDir: join(opts.outDir, 'swarm') }),
  );
  say(`solo: worker 0 alone × ${rounds} rounds…`);
  const solo = await runToEnd(
    await startLocalSwarm({ ...common, peers: 1, outDir: join(opts.outDir, 'solo') }),
  );

  // The held-out curve of both runs first, one line per evaluation; the summary is always the last line.
  for (const [run, evals] of [
    ['swarm', swarm.evals],
    ['solo', solo.evals],
  ] as const) {
    for (const e of evals) {
      const line = { run, round: e.round, heldOutLoss: e.heldOutLoss };
      if (opts.json) process.stdout.write(JSON.stringify(line) + '\n');
      else say(`${run} round ${e.round}: held-out loss ${e.heldOutLoss.toFixed(4)}`);
    }
  }
  const base = swarm.evals.find((e) => e.round === 0);
  const swarmLast = swarm.evals.at(-1);
  const soloLast = solo.evals.at(-1);
  if (!base || !swarmLast || !soloLast || swarmLast.round === 0 || soloLast.round === 0) {
    throw new DemoFailedError('worker 0 did not report held-out losses for the base and the final model');
  }
  // Each worker's rate over its rounds (tokens over the wall time of training and merging), summed.
  const tokensPerSecTotal = swarm.rates.reduce((sum, r) => sum + r, 0);
  process.stdout.write(
    JSON.stringify({
      peers: opts.peers,
      rounds,
      heldOutLossBase: base.heldOutLoss,
      heldOutLossSwarm: swarmLast.heldOutLoss,
      heldOutLossSolo: soloLast.heldOutLoss,
      tokensPerSecTotal,
    }) + '\n',
  );
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`npm run demo: ${(e as Error).name}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
