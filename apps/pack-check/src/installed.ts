/**
 * What the pack check runs from the install folder, with Node alone: the coordinator's and the worker's
 * commands (node_modules/.bin, as npx would run them) and a plain ESM script importing the performer.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VolunteerEvent } from '@slimswarm/client';
import { CoordinatorEvent } from '@slimswarm/coordinator';
import { z } from 'zod';
import { ChildProcessError, runOk, startJsonLines, type JsonLinesChild } from './processes.js';

const bin = (dir: string, name: string): string => join(dir, 'node_modules', '.bin', name);

type Listening = Extract<CoordinatorEvent, { event: 'listening' }>;
type Round = Extract<VolunteerEvent, { event: 'round' }>;

export interface InstalledCoordinator {
  readonly child: JsonLinesChild<CoordinatorEvent>;
  readonly listening: Listening;
}

/** Which job the installed coordinator publishes for the worker's round. */
export type CheckJob = 'quick' | 'default';

const QUICK_JOB_SCRIPT = fileURLToPath(new URL('../installed/quick-job.mjs', import.meta.url));

/**
 * Starts the installed coordinator on loopback, on a free port. `quick`: the default job with a one-step
 * round of 256 tokens (installed/quick-job.mjs writes its manifest with the installed packages);
 * `default`: the embedded default job itself (four 2048-token steps a round, about a minute on two cores).
 * Admission is at 8 bits either way: the check is about the install, not about proof-of-work.
 */
export async function startInstalledCoordinator(dir: string, job: CheckJob): Promise<InstalledCoordinator> {
  const keyPath = join(dir, 'job.key');
  let jobArgs = ['--difficulty', '8'];
  if (job === 'quick') {
    const script = join(dir, 'quick-job.mjs');
    const manifestPath = join(dir, 'quick-job.json');
    await copyFile(QUICK_JOB_SCRIPT, script);
    await runOk(process.execPath, [script, keyPath, manifestPath], { cwd: dir, timeoutMs: 60_000 });
    jobArgs = ['--manifest', manifestPath];
  }
  const child = startJsonLines(
    CoordinatorEvent,
    bin(dir, 'slimswarm-coordinator'),
    ['--host', '127.0.0.1', '--port', '0', ...jobArgs, '--job-key', keyPath, '--json'],
    dir,
  );
  try {
    const listening = await child.waitFor((e): e is Listening => e.event === 'listening', 60_000);
    return { child, listening };
  } catch (e) {
    await child.stop(5_000);
    throw e;
  }
}

/** The pages the installed coordinator serves from its own package: status and size of each. */
export async function fetchPages(base: string): Promise<{ path: string; status: number; bytes: number }[]> {
  const pages = [];
  for (const path of ['', 'dashboard/']) {
    const response = await fetch(new URL(path, base));
    const body = await response.text();
    if (!response.ok || !body.includes('<html')) {
      throw new ChildProcessError(`GET ${new URL(path, base)}: ${response.status}, not the built page`);
    }
    pages.push({ path: `/${path}`, status: response.status, bytes: Buffer.byteLength(body) });
  }
  return pages;
}

/** Runs the installed worker for one round against `coordinator`, training on `dataDir`. */
export async function runWorkerRound(
  dir: string,
  coordinator: string,
  dataDir: string,
  timeoutMs: number,
): Promise<Round> {
  const child = startJsonLines(
    VolunteerEvent,
    bin(dir, 'slimswarm-worker'),
    [
      ...['--coordinator', coordinator, '--data', dataDir, '--rounds', '1', '--threads', '2'],
      ...['--checkpoint-dir', join(dir, 'worker-checkpoints'), '--name', 'pack-check', '--json'],
    ],
    dir,
  );
  try {
    const round = await child.waitFor((e): e is Round => e.event === 'round', timeoutMs);
    // --rounds 1: the worker checkpoints and exits by itself after its round.
    const code = await Promise.race([
      child.exited,
      new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 60_000).unref()),
    ]);
    if (code !== 0)
      throw new ChildProcessError(`slimswarm-worker ended with ${code}:\n${child.stderrTail()}`);
    return round;
  } finally {
    await child.stop(5_000);
  }
}

/** What installed/gradient.mjs prints. */
export const GradientReport = z
  .object({
    params: z.number().int().positive(),
    tokens: z.number().int().positive(),
    chunk: z.number().int().positive(),
    loss: z.number().finite(),
    referenceLoss: z.number().finite(),
    maxGradRelativeError: z.number().finite().nonnegative(),
    worstParam: z.string(),
  })
  .strict();
export type GradientReport = z.infer<typeof GradientReport>;

const GRADIENT_SCRIPT = fileURLToPath(new URL('../installed/gradient.mjs', import.meta.url));

/**
 * One SLiM gradient from the installed @slimswarm/performer, in a plain `.mjs` run by `node` (no loader),
 * with the float64 reference gradient beside it; throws unless they agree as the performer's tests demand.
 */
export async function performerGradient(dir: string): Promise<GradientReport> {
  const script = join(dir, 'gradient.mjs');
  await copyFile(GRADIENT_SCRIPT, script);
  const { stdout } = await runOk(process.execPath, [script], { cwd: dir, timeoutMs: 120_000 });
  const report = GradientReport.parse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
  if (Math.abs(report.loss - report.referenceLoss) >= 1e-5 || report.maxGradRelativeError >= 1e-4) {
    throw new ChildProcessError(`the installed performer's gradient is off: ${JSON.stringify(report)}`);
  }
  return report;
}

/**
 * `<command> --help` from the install (`command`: an array runs that command line, e.g. npx): exits 0
 * and starts with the usage line of `program`.
 */
export async function helpText(
  dir: string,
  command: string | readonly string[],
  program: string,
): Promise<string> {
  const [file, ...args] = typeof command === 'string' ? [bin(dir, command)] : command;
  const { stdout } = await runOk(file!, [...args, '--help'], { cwd: dir, timeoutMs: 60_000 });
  if (!stdout.startsWith(`Usage: ${program}`)) {
    throw new ChildProcessError(
      `${[file, ...args].join(' ')} --help printed no usage of ${program}:\n${stdout.slice(0, 2000)}`,
    );
  }
  return stdout;
}
