/**
 * `slimswarm-worker`: fetch the job from the coordinator, join the swarm, and run the volunteer loop on
 * local text until Ctrl-C (which finishes the step, checkpoints and leaves cleanly) or `--rounds`.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Rng } from '@slimswarm/performer';
import { createNodePeer, dialableBy } from '@slimswarm/swarm';
import {
  connectToSwarm,
  fetchBase,
  fetchJob,
  keepMeeting,
  runVolunteer,
  type VolunteerEvent,
} from '@slimswarm/client';
import { parseWorkerArgs, type WorkerOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { resolveDataFiles } from './data.js';
import { heldOutSequences, trainingSequences } from './sequences.js';
import { fileStore } from './store.js';
import { createThreadEngine } from './thread-engine.js';
import { jsonDisplay, terminalDisplay, type Display } from './display.js';

/** Held-out sequences evaluated after each round: enough for a stable number, few enough to be quick. */
const HELD_OUT_SEQUENCES = 24;
/** How often the worker looks for peers that joined around the same time (see keepMeeting). */
const MEET_INTERVAL_MS = 30_000;

export async function runWorker(
  options: WorkerOptions,
  display: Display,
  signal: AbortSignal,
): Promise<void> {
  const files = await resolveDataFiles(options.data);
  const { manifest, bootstrap } = await fetchJob(options.coordinator);
  const base = await fetchBase(options.coordinator, manifest);
  const seqLen = manifest.training.seqLen;
  const heldOut = options.eval
    ? await heldOutSequences(resolve(options.eval), seqLen, HELD_OUT_SEQUENCES)
    : undefined;

  const checkpointDir = resolve(options.checkpointDir);
  const dialable = [...bootstrap, ...options.bootstrap].filter(dialableBy('node'));
  const peer = await createNodePeer({
    role: 'worker',
    identity: { kind: 'file', path: join(checkpointDir, 'identity.key') },
    listen: options.listen,
    bootstrap: dialable,
    gossip: { ipColocationFactorWeight: 0 },
  });
  const meeting = keepMeeting(peer, options.coordinator, {
    intervalMs: MEET_INTERVAL_MS,
    accept: dialableBy('node'),
  });
  try {
    await connectToSwarm(peer, dialable);
    const engine = await createThreadEngine({
      config: manifest.model,
      chunk: manifest.training.chunkSize,
      threads: options.threads,
      backend: 'wasm',
    });
    try {
      await runVolunteer({
        manifest,
        peer,
        engine,
        engineName: `slim-ort wasm ×${options.threads} (engine thread)`,
        base,
        sequences: trainingSequences(
          files,
          seqLen,
          new Rng(0, `data-order/${peer.peerId.toString()}`).nextU32(),
        ),
        ...(heldOut ? { heldOut } : {}),
        store: fileStore(checkpointDir),
        ...(options.rounds ? { rounds: options.rounds } : {}),
        signal,
        emit: (e) => display.show(e),
        memoryBytes: () => process.memoryUsage().rss,
      });
    } finally {
      await engine.dispose();
    }
  } finally {
    meeting.stop();
    await peer.stop();
  }
}

/** Parses argv, runs, and maps every failure to a printed error and an exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let options: WorkerOptions;
  try {
    options = parseWorkerArgs(argv, { threads: Math.min(2, availableParallelism()) });
  } catch (e) {
    if (isHelpExit(e)) return 0;
    const err = e as Error;
    process.stderr.write(`slimswarm-worker: ${err.message}\n`);
    return 2;
  }
  const display = options.json || !process.stdout.isTTY ? jsonDisplay() : terminalDisplay();
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runWorker(options, display, controller.signal);
    return 0;
  } catch (e) {
    const err = e as Error;
    const event: VolunteerEvent = { event: 'error', name: err.name, message: err.message };
    display.show(event);
    if (options.json || !process.stdout.isTTY)
      process.stderr.write(`slimswarm-worker: ${err.name}: ${err.message}\n`);
    return 1;
  } finally {
    display.stop();
  }
}
