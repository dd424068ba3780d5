/**
 * A whole swarm on this machine: one coordinator and N workers as separate OS processes on loopback, each
 * worker on its own shard of the corpus (the default one, or the user's own text), worker 0 also scoring
 * the shared model on the held-out split every few rounds.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoordinatorEvent } from '@slimswarm/coordinator';
import { VolunteerEvent } from '@slimswarm/client';
import { writeCorpusSplit, writeDefaultCorpus, type CorpusSplit } from '@slimswarm/default-job';
import { resolveDataFiles } from '@slimswarm/worker';
import { spawnJsonChild, type JsonChild } from './processes.js';

/**
 * Splits the user's own text (files, dirs, globs), or by default the repository's docs and sources, into
 * `shards` training files and a held-out file below `outDir`.
 */
export async function prepareCorpus(opts: {
  data?: string[];
  outDir: string;
  shards: number;
}): Promise<CorpusSplit> {
  const split = { outDir: opts.outDir, shards: opts.shards };
  return opts.data && opts.data.length > 0
    ? writeCorpusSplit(await resolveDataFiles(opts.data), split)
    : writeDefaultCorpus(split);
}

export interface LocalSwarmOptions {
  /** Worker i trains on corpus.shards[i]. */
  peers: number;
  corpus: CorpusSplit;
  /** Checkpoints go below this folder (emptied first). */
  outDir: string;
  /** Workers stop by themselves after this many rounds (default: run until stopped). */
  rounds?: number;
  /** HTTP port of the coordinator (0: any free port). */
  port: number;
  threadsPerWorker: number;
  /** Worker 0 scores the held-out split now and then (default true) … */
  heldOutEval?: boolean;
  /** … every this many rounds and after the last (default: the worker's). */
  evalEvery?: number;
  /** Local steps a worker takes while a round closes (default: the worker's). */
  overlapSteps?: number;
  /** A job manifest file for the coordinator (default: the embedded default job). */
  manifestPath?: string;
  /** The base checkpoint that manifest names (default: the default job's committed one). */
  basePath?: string;
  /** The coordinator's job key file (default: one in `outDir`); a manifest file must name its key. */
  jobKeyPath?: string;
  log?: (label: string, line: string) => void;
}

export interface LocalSwarm {
  coordinator: JsonChild<CoordinatorEvent>;
  workers: JsonChild<VolunteerEvent>[];
  corpus: CorpusSplit;
  /** The coordinator's HTTP address (volunteer page; the dashboard is below /dashboard/). */
  url: string;
  startWorker(index: number): JsonChild<VolunteerEvent>;
  /** SIGINT to every worker, then the coordinator; waits for all to exit. */
  stop(): Promise<void>;
}

const COORDINATOR_ENTRY = 'apps/coordinator/src/main.ts';
const WORKER_ENTRY = 'apps/worker/src/main.ts';

export async function startLocalSwarm(opts: LocalSwarmOptions): Promise<LocalSwarm> {
  await rm(opts.outDir, { recursive: true, force: true });
  const corpus = opts.corpus;

  const coordinator = spawnJsonChild(CoordinatorEvent, {
    label: 'coordinator',
    entry: COORDINATOR_ENTRY,
    // The job key lives with the run: a restarted coordinator publishes the same job the workers pinned.
    args: [
      '--port',
      String(opts.port),
      '--json',
      '--job-key',
      opts.jobKeyPath ?? join(opts.outDir, 'job.key'),
      ...(opts.manifestPath !== undefined ? ['--manifest', opts.manifestPath] : []),
      ...(opts.basePath !== undefined ? ['--base', opts.basePath] : []),
    ],
    ...(opts.log ? { log: opts.log } : {}),
  });
  const listening = await coordinator.waitFor(
    (e): e is Extract<CoordinatorEvent, { event: 'listening' }> => e.event === 'listening',
    60_000,
  );

  const startWorker = (index: number): JsonChild<VolunteerEvent> =>
    spawnJsonChild(VolunteerEvent, {
      label: `worker-${index}`,
      entry: WORKER_ENTRY,
      args: [
        '--coordinator',
        listening.http,
        '--data',
        corpus.shards[index]!,
        '--checkpoint-dir',
        join(opts.outDir, `worker-${index}`),
        '--threads',
        String(opts.threadsPerWorker),
        '--name',
        `worker-${index}`,
        '--json',
        ...(index === 0 && opts.heldOutEval !== false ? ['--eval', corpus.heldOut] : []),
        ...(opts.evalEvery !== undefined ? ['--eval-every', String(opts.evalEvery)] : []),
        ...(opts.overlapSteps !== undefined ? ['--overlap-steps', String(opts.overlapSteps)] : []),
        ...(opts.rounds !== undefined ? ['--rounds', String(opts.rounds)] : []),
      ],
      ...(opts.log ? { log: opts.log } : {}),
    });
  const workers = Array.from({ length: opts.peers }, (_, i) => startWorker(i));

  return {
    coordinator,
    workers,
    corpus,
    url: listening.http,
    startWorker(index) {
      const worker = startWorker(index);
      workers[index] = worker;
      return worker;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
      await coordinator.stop();
    },
  };
}
