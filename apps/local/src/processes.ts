/**
 * Child processes that speak JSON lines: the launcher starts the coordinator and workers as real OS
 * processes (as users would), reads their events through the same zod schemas they were written with, and
 * stops them with signals so they shut down (and checkpoint) cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '@slimswarm/default-job';
import type { z } from 'zod';

export { REPO_ROOT };

/** A child exited before the launcher saw what it waited for. */
export class ChildExitedError extends Error {
  static override name = 'ChildExitedError';
  override name = 'ChildExitedError';
}

/** A child did not report in time. */
export class ChildTimeoutError extends Error {
  static override name = 'ChildTimeoutError';
  override name = 'ChildTimeoutError';
}

export interface JsonChild<E> {
  readonly label: string;
  readonly process: ChildProcess;
  /** Every event seen so far, in order. */
  readonly events: E[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first event (already seen or future) that matches. */
  waitFor<T extends E>(match: (e: E) => e is T, timeoutMs: number): Promise<T>;
  onEvent(listener: (e: E) => void): void;
  /** SIGINT (clean stop) and wait; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<number | null>;
}

export interface SpawnOptions {
  label: string;
  /** TypeScript entry point, relative to the repository root. */
  entry: string;
  args: string[];
  /** Lines on stderr and non-JSON stdout lines go here (default: dropped). */
  log?: (label: string, line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export function spawnJsonChild<S extends z.ZodType>(schema: S, opts: SpawnOptions): JsonChild<z.infer<S>> {
  type E = z.infer<S>;
  // Sources, not builds: our packages resolve to src/*.ts under the source condition, which tsx runs.
  const loader = ['--conditions=@slimswarm/source', '--import', 'tsx'];
  const child = spawn(process.execPath, [...loader, opts.entry, ...opts.args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const events: E[] = [];
  const listeners: ((e: E) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      opts.log?.(opts.label, line);
      return;
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      opts.log?.(opts.label, line);
      return;
    }
    events.push(result.data);
    for (const listener of listeners) listener(result.data);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => opts.log?.(opts.label, line));

  const stop = async (signal: NodeJS.Signals, graceMs: number): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  return {
    label: opts.label,
    process: child,
    events,
    exited,
    onEvent: (listener) => listeners.push(listener),
    waitFor<T extends E>(match: (e: E) => e is T, timeoutMs: number): Promise<T> {
      const seen = events.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new ChildTimeoutError(`${opts.label}: nothing matching after ${timeoutMs} ms`)),
          timeoutMs,
        );
        listeners.push((e) => {
          if (match(e)) {
            clearTimeout(timer);
            resolve(e);
          }
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new ChildExitedError(`${opts.label} exited (code ${code}) before reporting`));
        });
      });
    },
    stop: (graceMs = 15_000) => stop('SIGINT', graceMs),
    kill: () => stop('SIGKILL', 0),
  };
}
