/**
 * What the live benchmarks on real processes share (attack-live.ts: poisoning; flood-live.ts: resource
 * floods): the failure type, the tail of every process's output for the message when a run fails, time
 * limits, the first worker that crashes, a free loopback port, a child's next milestone, and stopping
 * every process of the run in progress when the benchmark itself is interrupted.
 */
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { VolunteerEvent } from '@slimswarm/client';
import type { JsonChild } from '../src/processes.js';

/** The benchmark could not produce its figures (a process failed, hung, or reported nothing). */
export class LiveAttackFailedError extends Error {
  static override name = 'LiveAttackFailedError';
  override name = 'LiveAttackFailedError';
}

const LOG_TAIL_LINES = 40;

export type Of<E extends VolunteerEvent['event']> = Extract<VolunteerEvent, { event: E }>;
/** A type guard for one kind of worker event: `w.events.filter(is('round'))`. */
export const is =
  <E extends VolunteerEvent['event']>(event: E) =>
  (e: VolunteerEvent): e is Of<E> =>
    e.event === event;

/** The last lines of every process's own output, for the message when something fails. */
export class OutputTail {
  private readonly lines: string[] = [];
  constructor(private readonly verbose: boolean) {}
  readonly log = (label: string, line: string): void => {
    if (this.verbose) process.stderr.write(`[${label}] ${line}\n`);
    this.lines.push(`[${label}] ${line}`);
    if (this.lines.length > LOG_TAIL_LINES) this.lines.shift();
  };
  text(): string {
    return this.lines.length > 0 ? `\nlast output of the processes:\n${this.lines.join('\n')}` : '';
  }
}

export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LiveAttackFailedError(`${what} within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects as soon as any worker exits with a failure (so a crash does not wait for the timeout). */
export function firstFailure(workers: JsonChild<VolunteerEvent>[]): Promise<never> {
  return new Promise<never>((_, reject) =>
    workers.forEach(
      (w) =>
        void w.exited.then((code) => {
          if (code === 0) return;
          const error = w.events.find(is('error'));
          reject(
            new LiveAttackFailedError(
              `${w.label} exited with ${code}${error ? `: ${error.name}: ${error.message}` : ''}`,
            ),
          );
        }),
    ),
  );
}

/** A TCP port free on loopback right now (the coordinator's, known before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Events of a benchmark child that reports its failures as `{ event: 'error', name, message }`. */
type WithError = { event: string } | { event: 'error'; name: string; message: string };

function errorOf(child: JsonChild<WithError>): string | null {
  const e = child.events.find((x): x is Extract<WithError, { event: 'error' }> => x.event === 'error');
  return e ? `${e.name}: ${e.message}` : null;
}

/** A child's next milestone, or a failure that says what it did not do and why. */
export function childStep<E extends WithError, T extends E>(
  child: JsonChild<E>,
  match: (e: E) => e is T,
  what: string,
  timeoutMs: number,
): Promise<T> {
  return child.waitFor(match, timeoutMs).catch((e: Error) => {
    throw new LiveAttackFailedError(`${child.label} did not ${what}: ${errorOf(child) ?? e.message}`);
  });
}

/** Rejects when the child exits while the run still needs it. */
export function diesEarly(child: JsonChild<WithError>, while_: string): Promise<never> {
  const died = child.exited.then((code) => {
    const error = errorOf(child);
    throw new LiveAttackFailedError(
      `${child.label} exited (code ${code}) ${while_}${error ? `: ${error}` : ''}`,
    );
  });
  died.catch(() => {}); // raced by the caller; never unhandled
  return died;
}

/**
 * The processes of the run in progress, stopped first when the benchmark gets SIGINT/SIGTERM (SIGINT,
 * then SIGKILL after a grace); then `dir` is removed and the benchmark exits 130.
 */
export class RunningProcesses {
  private readonly stops = new Set<() => Promise<void>>();
  private stoppingValue = false;

  constructor(label: string, dir: string) {
    const interrupted = (): void => {
      this.stoppingValue = true;
      process.stderr.write(`${label}: interrupted, stopping every process…\n`);
      void Promise.allSettled([...this.stops].map((stop) => stop()))
        .then(() => rm(dir, { recursive: true, force: true }))
        .finally(() => process.exit(130));
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
  }

  /** Whether an interrupt is under way (a run that fails then failed because we stopped it). */
  get stopping(): boolean {
    return this.stoppingValue;
  }

  /** Registers `stop` for the duration of `run`, and calls it once `run` settles. */
  async with<T>(stop: () => Promise<void>, run: () => Promise<T>): Promise<T> {
    this.stops.add(stop);
    try {
      return await run();
    } finally {
      this.stops.delete(stop);
      await stop();
    }
  }
}
