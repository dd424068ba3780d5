// The polyfills must come first in every Node entry point.
import '@slimswarm/node-compat';
/**
 * `npm start`: a coordinator and N workers on loopback fine-tune the base model on the default corpus (or
 * `--data`), printing the dashboard address and the held-out loss round by round. Ctrl-C stops them all
 * cleanly (each worker finishes its step and checkpoints).
 */
import type { VolunteerEvent } from '@slimswarm/client';
import { parseLaunchArgs, type LaunchOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { join } from 'node:path';
import { prepareCorpus, startLocalSwarm } from './local-swarm.js';

async function main(argv: readonly string[]): Promise<number> {
  let opts: LaunchOptions;
  try {
    opts = parseLaunchArgs('start', 'Run a local slimswarm: a coordinator and N workers on loopback.', argv);
  } catch (e) {
    if (isHelpExit(e)) return 0;
    process.stderr.write(`npm start: ${(e as Error).message}\n`);
    return 2;
  }
  const say = (json: Record<string, unknown>, human: string): void => {
    process.stdout.write((opts.json ? JSON.stringify(json) : human) + '\n');
  };
  const log = opts.verbose
    ? (label: string, line: string) => process.stderr.write(`[${label}] ${line}\n`)
    : undefined;
  if (!opts.json) say({}, `starting a coordinator and ${opts.peers} workers on loopback…`);
  const corpus = await prepareCorpus({
    ...(opts.data ? { data: opts.data } : {}),
    outDir: join(opts.outDir, 'corpus'),
    shards: opts.peers,
  });
  const swarm = await startLocalSwarm({
    peers: opts.peers,
    corpus,
    outDir: join(opts.outDir, 'peers'),
    ...(opts.rounds !== undefined ? { rounds: opts.rounds } : {}),
    port: opts.port,
    threadsPerWorker: opts.threads,
    evalEvery: opts.evalEvery,
    overlapSteps: opts.overlapSteps,
    ...(log ? { log } : {}),
  });
  say(
    { event: 'started', dashboard: `${swarm.url}dashboard/`, volunteerPage: swarm.url, peers: opts.peers },
    `dashboard: ${swarm.url}dashboard/ · volunteer page: ${swarm.url}\n` +
      `corpus: ${swarm.corpus.shardBytes.length} shards of ${swarm.corpus.shardBytes.map((b) => `${(b / 1024).toFixed(0)} KiB`).join(', ')}; held-out ${(swarm.corpus.heldOutBytes / 1024).toFixed(0)} KiB`,
  );

  let baseLoss: number | null = null;
  const tokensPerSec = new Map<string, number>();
  const merged = new Map<number, number>();
  swarm.workers.forEach((worker, index) =>
    worker.onEvent((e: VolunteerEvent) => {
      if (e.event === 'ready')
        say({ ...e, worker: index }, `worker-${index} ready (${e.peerId.slice(-8)}, ${e.engine})`);
      if (e.event === 'round') {
        tokensPerSec.set(worker.label, e.tokensPerSec);
        merged.set(e.round, Math.max(merged.get(e.round) ?? 0, e.accepted));
      }
      if (e.event === 'error')
        say({ ...e, worker: index }, `worker-${index} failed: ${e.name}: ${e.message}`);
      if (e.event !== 'eval') return;
      baseLoss ??= e.heldOutLoss;
      const total = [...tokensPerSec.values()].reduce((a, b) => a + b, 0);
      say(
        {
          event: 'round',
          round: e.round,
          heldOutLoss: e.heldOutLoss,
          heldOutLossBase: baseLoss,
          deltasMerged: merged.get(e.round - 1) ?? 0,
          tokensPerSecTotal: total,
        },
        e.round === 0 && tokensPerSec.size === 0
          ? `round 0 · held-out loss ${e.heldOutLoss.toFixed(4)} (base model)`
          : `round ${e.round} · held-out loss ${e.heldOutLoss.toFixed(4)} (base ${baseLoss.toFixed(4)}) · ${merged.get(e.round - 1) ?? 0} deltas merged · ${total.toFixed(0)} tok/s total`,
      );
    }),
  );

  const interrupted = new Promise<'signal'>((resolve) => {
    process.once('SIGINT', () => resolve('signal'));
    process.once('SIGTERM', () => resolve('signal'));
  });
  const finished = Promise.all(swarm.workers.map((w) => w.exited)).then(() => 'done' as const);
  const why = await Promise.race([interrupted, finished]);
  if (!opts.json) say({}, why === 'signal' ? 'stopping every process…' : 'all workers finished');
  await swarm.stop();
  say({ event: 'stopped', reason: why }, 'stopped');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
