/**
 * `slimswarm-worker`: a volunteer session (@slimswarm/client's startVolunteerSession) on local text with a
 * Node peer and the engine on a worker thread, until Ctrl-C (which finishes the step, checkpoints and
 * leaves cleanly) or `--rounds`. This file adds only the CLI: flags, display, signals, exit codes.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Rng } from '@slimswarm/performer';
import { createNodePeer, dialableBy } from '@slimswarm/swarm';
import { startVolunteerSession, type VolunteerEvent } from '@slimswarm/client';
import { parseWorkerArgs, type WorkerOptions } from './options.js';
import { isHelpExit } from '@slimswarm/node-compat/cli';
import { resolveDataFiles } from './data.js';
import { HELD_OUT_SEQUENCES, heldOutSequences, trainingSequences } from './sequences.js';
import { fileStore } from './store.js';
import { filePins, fileStamps } from './identity-store.js';
import { readTicket } from './ticket-file.js';
import { startEngineThread } from './start-engine-thread.js';
import { jsonDisplay, terminalDisplay, type Display } from './display.js';

/** How often the worker looks for peers that joined around the same time (see keepMeeting). */
const MEET_INTERVAL_MS = 30_000;

export async function runWorker(
  options: WorkerOptions,
  display: Display,
  signal: AbortSignal,
): Promise<void> {
  // The data is checked before anything goes on the network: a typo in --data fails at once.
  const files = await resolveDataFiles(options.data);
  const checkpointDir = resolve(options.checkpointDir);
  const heldOutPath = options.eval ? resolve(options.eval) : null;
  const ticket = options.ticket ? await readTicket(options.ticket) : undefined;
  await startVolunteerSession({
    coordinator: options.coordinator,
    bootstrap: options.bootstrap,
    canDial: dialableBy('node'),
    createPeer: (_listing, bootstrap) =>
      createNodePeer({
        role: 'worker',
        identity: { kind: 'file', path: join(checkpointDir, 'identity.key') },
        listen: options.listen,
        bootstrap,
        gossip: { ipColocationFactorWeight: 0 },
      }),
    createEngine: async (manifest, lora) => ({
      engine: await startEngineThread({
        config: manifest.model,
        chunk: manifest.training.chunkSize,
        threads: options.threads,
        backend: 'wasm',
        ...(lora ? { lora } : {}),
      }),
      name: `slim-ort wasm ×${options.threads} (engine thread)`,
    }),
    sequences: ({ manifest, peer, tokenizer }) =>
      trainingSequences(
        files,
        manifest.training.seqLen,
        new Rng(0, `data-order/${peer.peerId.toString()}`).nextU32(),
        tokenizer,
        // The counts go to this machine's display only, never to the swarm.
        options.scrub ? (report) => display.show({ event: 'scrubbed', ...report }) : undefined,
      ),
    ...(heldOutPath
      ? {
          heldOut: ({ manifest, tokenizer }) =>
            heldOutSequences(heldOutPath, manifest.training.seqLen, HELD_OUT_SEQUENCES, tokenizer),
        }
      : {}),
    store: () => fileStore(checkpointDir),
    pins: filePins(checkpointDir),
    stamps: fileStamps(checkpointDir),
    ...(options.jobKey ? { jobKey: options.jobKey } : {}),
    ...(options.invite ? { invite: options.invite } : {}),
    ...(ticket ? { ticket } : {}),
    meetIntervalMs: MEET_INTERVAL_MS,
    ...(options.rounds ? { rounds: options.rounds } : {}),
    ...(options.evalEvery ? { evalEvery: options.evalEvery } : {}),
    ...(options.overlapSteps !== undefined ? { overlapSteps: options.overlapSteps } : {}),
    signal,
    emit: (e) => display.show(e),
    memoryBytes: () => process.memoryUsage().rss,
  });
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
