// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * `npm run demo -- --peers 3 --rounds R --json`: a bounded experiment that exits by itself.
 *   1. the swarm: a coordinator and N workers, each on its own shard, for R rounds;
 *   2. solo: worker 0 alone on the same shard for R rounds (the same number of its own tokens);
 *   3. centralized: one process on all N shards for the swarm's tokens (centralized.ts), with as many
 *      threads as the swarm's workers had cores;
 *   4. the compressor baselines: xz on the scored held-out text, alone and primed with the shards;
 * one after the other, so no run's speed is another's loss. It prints each run's held-out bits per byte
 * ({run, round, heldOutBitsPerByte}; every --eval-every rounds and after the last), then one final line
 * {heldOutBitsPerByte: {base, solo, swarm, centralized, xz, xzPrimed}, peers, rounds, tokens,
 * tokensPerSecTotal, efficiency: {effectiveTokensPerSec, centralizedTokensPerSec, ratio, workers…}, …}.
 * The model runs are scored on the same held-out sequences.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fetchBase, fetchJob, weightsFromSafetensors, type VolunteerEvent } from '@slimswarm/client';
import { parseDemoArgs, type DemoOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { prepareCorpus, startLocalSwarm, type LocalSwarm } from './local-swarm.js';
import { bitsPerByte } from './bits-per-byte.js';
import { runCentralized } from './centralized.js';
import { HELD_OUT_SEQUENCES, heldOutSequences } from '@slimswarm/worker';
import { xzBaseline } from './xz-baseline.js';
import { swarmEfficiency, type SwarmEfficiency } from './efficiency.js';

type EvalEvent = Extract<VolunteerEvent, { event: 'eval' }>;
type RoundEvent = Extract<VolunteerEvent, { event: 'round' }>;

/** The demo could not produce its figures (a worker failed or reported nothing). */
export class DemoFailedError extends Error {
  static override name = 'DemoFailedError';
  override name = 'DemoFailedError';
}

/**
 * How far apart (nats per token) the centralized run's and worker 0's scores of the same base weights may
 * be: both run the same engine on the same sequences, so only float noise between threads is allowed.
 */
const BASE_AGREEMENT = 1e-4;

interface RunFigures {
  evals: { round: number; heldOutLoss: number }[];
  /** Each worker's mean tokens/s over its rounds. */
  rates: number[];
  /** Tokens trained by every worker in their rounds. */
  tokens: number;
}

async function runToEnd(swarm: LocalSwarm): Promise<RunFigures> {
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
  const rounds = swarm.workers.map((w) => w.events.filter((e): e is RoundEvent => e.event === 'round'));
  const rates = rounds.map((rs) => rs.reduce((sum, r) => sum + r.tokensPerSec, 0) / Math.max(1, rs.length));
  const tokens = rounds.flat().reduce((sum, r) => sum + r.tokens, 0);
  return { evals, rates, tokens };
}

/** The signed job and base weights the swarm's coordinator publishes: the centralized run uses the same. */
async function publishedJob(swarm: LocalSwarm) {
  const { manifest } = await fetchJob(swarm.url);
  return { manifest, base: weightsFromSafetensors(await fetchBase(swarm.url, manifest)) };
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: DemoOptions;
  try {
    opts = parseDemoArgs(argv);
  } catch (e) {
    if (isHelpExit(e)) return 0;
    process.stderr.write(`npm run demo: ${(e as Error).message}\n`);
    return 2;
  }
  const { rounds } = opts;
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
  const common = {
    corpus,
    rounds,
    port: opts.port,
    threadsPerWorker: opts.threads,
    evalEvery: opts.evalEvery,
    overlapSteps: opts.overlapSteps,
    ...(log ? { log } : {}),
  };

  say(`swarm: ${opts.peers} workers × ${rounds} rounds…`);
  const swarmProcesses = await startLocalSwarm({
    ...common,
    peers: opts.peers,
    outDir: join(opts.outDir, 'swarm'),
  });
  const job = await publishedJob(swarmProcesses).catch(async (e: unknown) => {
    await swarmProcesses.stop();
    throw e;
  });
  const { training } = job.manifest;
  const heldOut = await heldOutSequences(corpus.heldOut, training.seqLen, HELD_OUT_SEQUENCES);
  const swarm = await runToEnd(swarmProcesses);
  const efficiency = swarmEfficiency(swarmProcesses.workers.map((w) => w.events));
  say(`solo: worker 0 alone × ${rounds} rounds…`);
  const solo = await runToEnd(
    await startLocalSwarm({ ...common, peers: 1, outDir: join(opts.outDir, 'solo') }),
  );
  // The cores the swarm's workers shared: the centralized run is one process on the same machine.
  const threads = Math.min(availableParallelism(), opts.peers * opts.threads);
  say(
    `centralized: one process (${threads} threads) on all ${opts.peers} shards × ${rounds} rounds of ${opts.peers * training.localSteps} steps…`,
  );
  const centralized = await runCentralized({
    ...job,
    shards: corpus.shards,
    heldOut,
    rounds,
    threads,
    evalEvery: opts.evalEvery,
  });
  // xz compresses exactly the bytes the models are scored on: sequence i is bytes [i·L, i·L + L].
  const scoredBytes = heldOut.length * training.seqLen + 1;
  say('xz -9e on the scored held-out text, alone and primed with the shards…');
  const xz = await xzBaseline({
    training: await Promise.all(corpus.shards.map((s) => readFile(s))),
    heldOut: (await readFile(corpus.heldOut)).subarray(0, scoredBytes),
  });
  const bpb = (natsPerToken: number): number => bitsPerByte(natsPerToken, job.manifest.tokenizer);
  // The curves first, one line per evaluation; the summary is always the last line.
  for (const [run, evals] of [
    ['swarm', swarm.evals],
    ['solo', solo.evals],
    ['centralized', centralized.evals],
  ] as const) {
    for (const e of evals) {
      const line = { run, round: e.round, heldOutBitsPerByte: bpb(e.heldOutLoss) };
      if (opts.json) process.stdout.write(JSON.stringify(line) + '\n');
      else say(`${run} round ${e.round}: held-out ${line.heldOutBitsPerByte.toFixed(4)} bits/byte`);
    }
  }
  const { base, last } = finalLosses(swarm, solo, centralized);
  // Each worker's rate over its rounds (the client's one definition of tokens/s), summed.
  const tokensPerSecTotal = swarm.rates.reduce((sum, r) => sum + r, 0);
  process.stdout.write(
    JSON.stringify({
      heldOutBitsPerByte: {
        base: bpb(base),
        solo: bpb(last.solo),
        swarm: bpb(last.swarm),
        centralized: bpb(last.centralized),
        xz: xz.xz,
        xzPrimed: xz.xzPrimed,
      },
      peers: opts.peers,
      rounds,
      tokens: swarm.tokens,
      tokensPerSecTotal,
      tokensPerSecCentralized: centralized.tokensPerSec,
      efficiency: efficiencyFigures(efficiency, centralized.tokensPerSec, threads),
      // The same figures in nats per predicted token (the unit of earlier runs).
      heldOutLossBase: base,
      heldOutLossSwarm: last.swarm,
      heldOutLossSolo: last.solo,
      heldOutLossCentralized: last.centralized,
      // Models and xz alike are scored on the first held-out sequences (all of the default split).
      heldOutTokensScored: heldOut.reduce((sum, s) => sum + s.length - 1, 0),
      heldOutBytes: corpus.heldOutBytes,
    }) + '\n',
  );
  return 0;
}

/** The efficiency row: the swarm's merged tokens per wall second against the centralized run's rate. */
function efficiencyFigures(
  swarm: SwarmEfficiency,
  centralizedTokensPerSec: number,
  centralizedThreads: number,
) {
  const round3 = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    effectiveTokensPerSec: swarm.effectiveTokensPerSec,
    centralizedTokensPerSec,
    centralizedThreads,
    ratio: centralizedTokensPerSec > 0 ? swarm.effectiveTokensPerSec / centralizedTokensPerSec : 0,
    mergedTokens: swarm.mergedTokens,
    wallSec: swarm.wallSec,
    trainShare: swarm.workers.map((w) => round3(w.trainShare)),
    busyShare: swarm.workers.map((w) => round3(w.busyShare)),
    waitShare: swarm.workers.map((w) => round3(w.waitShare)),
  };
}

/**
 * The base model's held-out loss and each run's last one; refuses runs that did not score both, and a
 * centralized run that scores the base weights differently from worker 0 (it would not measure the same).
 */
function finalLosses(swarm: RunFigures, solo: RunFigures, centralized: Pick<RunFigures, 'evals'>) {
  const base = swarm.evals.find((e) => e.round === 0);
  const lastOf = (run: string, figures: Pick<RunFigures, 'evals'>): number => {
    const last = figures.evals.at(-1);
    if (!last || last.round === 0) throw new DemoFailedError(`${run}: no held-out loss after training`);
    return last.heldOutLoss;
  };
  if (!base) throw new DemoFailedError('worker 0 did not report the base model’s held-out loss');
  const centralizedBase = centralized.evals.find((e) => e.round === 0)!.heldOutLoss;
  if (Math.abs(centralizedBase - base.heldOutLoss) > BASE_AGREEMENT) {
    throw new DemoFailedError(
      `the centralized run scores the base model ${centralizedBase}, worker 0 ${base.heldOutLoss} ` +
        '(nats per token): they do not evaluate the same held-out sequences',
    );
  }
  return {
    base: base.heldOutLoss,
    last: {
      swarm: lastOf('swarm', swarm),
      solo: lastOf('solo', solo),
      centralized: lastOf('centralized', centralized),
    },
  };
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`npm run demo: ${(e as Error).name}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
