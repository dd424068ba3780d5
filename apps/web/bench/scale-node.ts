/**
 * The scale check's Node client: `slimswarm-worker` as a volunteer runs it (its engine on a worker
 * thread of the same process), on this repository's docs as local text, for one round. Its memory is
 * the process's, read from /proc.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VolunteerEvent } from '@slimswarm/client';
import { REPO_ROOT, spawnJsonChild } from '@slimswarm/local';
import { ProcessWindow } from '@slimswarm/local/proc-sampler';
import { clientRun, type ClientRun, type ScaleJob } from './scale-run.js';

/** Long enough for a 4096-token step of a 135 M model on two loaded cores. */
const STEP_TIMEOUT_MS = 40 * 60_000;

export async function runNodeClient(job: ScaleJob): Promise<ClientRun> {
  const spawned = Date.now();
  const worker = spawnJsonChild(VolunteerEvent, {
    label: 'worker',
    entry: 'apps/worker/src/main.ts',
    args: [
      ...['--coordinator', job.coordinator, '--data', join(REPO_ROOT, 'docs'), '--json'],
      ...['--threads', '2', '--rounds', '1', '--checkpoint-dir', join(job.scratch, 'worker')],
    ],
    log: (label, line) => job.say(`[${label}] ${line}`),
  });
  const pid = worker.process.pid!;
  // Where the memory goes, as it goes: the resident set every 2 s beside the last event seen.
  let last = 'spawned';
  const timeline = setInterval(() => {
    void readFile(`/proc/${pid}/status`, 'utf8')
      .then((status) => {
        const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
        job.say(
          `[worker] ${((Date.now() - spawned) / 1000).toFixed(0)} s: ${rss.toFixed(0)} MiB after ${last}`,
        );
      })
      .catch(() => {});
  }, 2_000);
  let ready: Extract<VolunteerEvent, { event: 'ready' }> | null = null;
  worker.onEvent((e) => {
    last = e.event;
    if (e.event === 'ready') ready = e;
  });
  try {
    const start = new ProcessWindow(pid, 200);
    await start.start();
    worker.onEvent((e) => job.say(`[worker] ${e.event}`));
    await worker.waitFor(
      (e): e is Extract<VolunteerEvent, { event: 'synced' }> => e.event === 'synced',
      STEP_TIMEOUT_MS,
    );
    const synced = Date.now();
    const startup = await start.finish();
    const training = new ProcessWindow(pid, 200);
    await training.start();
    const step = await worker.waitFor(
      (e): e is Extract<VolunteerEvent, { event: 'step' }> => e.event === 'step',
      STEP_TIMEOUT_MS,
    );
    const stepped = Date.now();
    const round = await worker.waitFor(
      (e): e is Extract<VolunteerEvent, { event: 'round' }> => e.event === 'round',
      STEP_TIMEOUT_MS,
    );
    const trained = await training.finish();
    if (!ready) throw new Error('the worker synced before it said it was ready');
    return clientRun(
      job,
      { spawned, synced, stepped },
      { ready, step, round },
      {
        startMiB: startup.peakRssMiB,
        trainingMiB: trained.peakRssMiB,
      },
    );
  } finally {
    clearInterval(timeline);
    await worker.stop();
  }
}
