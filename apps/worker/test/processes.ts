/**
 * The worker's CLIs, the worker and the coordinator as real OS processes, for the tests: started the way
 * users start them (`node --conditions=@slimswarm/source --import tsx <entry>`), their JSON lines read back through the schemas they
 * were written with, stopped with SIGINT. (apps/local has the launcher's version of this; the worker cannot
 * depend on apps/local, which depends on the worker.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Child<E> {
  readonly process: ChildProcess;
  readonly events: E[];
  /** Everything on stdout, as it came, and on stderr. */
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  /** The first event (seen already, or to come) that matches; rejects when the process exits first. */
  waitFor<T extends E>(match: (e: E) => e is T): Promise<T>;
  /** SIGINT, then the exit status. */
  stop(): Promise<number | null>;
}

/** Starts `entry`, a TypeScript file. */
export function start<S extends z.ZodType>(schema: S, entry: string, args: string[]): Child<z.output<S>> {
  type E = z.output<S>;
  // Sources, not builds: our packages resolve to src/*.ts under the source condition, which tsx runs.
  const loader = ['--conditions=@slimswarm/source', '--import', 'tsx'];
  const child = spawn(process.execPath, [...loader, entry, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: E[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: (() => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) return;
    events.push(parsed.data);
    for (const wake of waiters) wake();
  });
  return {
    process: child,
    events,
    stdout,
    stderr,
    exited,
    waitFor<T extends E>(match: (e: E) => e is T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found !== undefined) resolve(found);
        };
        waiters.push(check);
        check();
        void exited.then((code) =>
          reject(new Error(`${entry} exited (${code}) first: ${stderr.join('').slice(-2000)}`)),
        );
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** Runs a CLI to its end: its exit status and what it printed. */
export async function run(
  entry: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; chunks: number }> {
  const child = start(z.never(), entry, args);
  const code = await child.exited;
  return { code, stdout: child.stdout.join(''), stderr: child.stderr.join(''), chunks: child.stdout.length };
}

type Of<S extends { event: string }, E extends S['event']> = Extract<S, { event: E }>;

/** A predicate for a child's events of one kind (and, optionally, a condition on them). */
export const is =
  <S extends { event: string }, E extends S['event']>(
    event: E,
    where: (e: Of<S, E>) => boolean = () => true,
  ) =>
  (e: S): e is Of<S, E> =>
    e.event === event && where(e as Of<S, E>);
