/**
 * Child processes of the pack check: npm, and the installed commands. They get an environment without
 * this run's npm settings (npm run exports its prefix and workspace as npm_* variables, which would point
 * the nested npm back at the repository) and without the source condition, so the install is used as a
 * user's machine would use it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { z } from 'zod';

/** A child did not finish (or report) in time, or finished unsuccessfully. */
export class ChildProcessError extends Error {
  static override name = 'ChildProcessError';
  override name = 'ChildProcessError';
}

export function cleanEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.toLowerCase().startsWith('npm_')) clean[key] = value;
  }
  const nodeOptions = (env['NODE_OPTIONS'] ?? '')
    .split(/\s+/)
    .filter((option) => option !== '' && !option.startsWith('--conditions'));
  if (nodeOptions.length > 0) clean['NODE_OPTIONS'] = nodeOptions.join(' ');
  else delete clean['NODE_OPTIONS'];
  return clean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  timeoutMs: number;
}

/** Runs a command to its end (SIGKILL after `timeoutMs`). */
export function run(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const child = spawn(command, args, { cwd: opts.cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.join(''), stderr: stderr.join('') });
    });
  });
}

/** run(), failing with the command's own output unless it exits 0. */
export async function runOk(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const result = await run(command, args, opts);
  if (result.code !== 0) {
    throw new ChildProcessError(
      `${command} ${args.join(' ')} exited with ${result.code}:\n${(result.stderr || result.stdout).slice(-4000)}`,
    );
  }
  return result;
}

export interface JsonLinesChild<E> {
  readonly process: ChildProcess;
  /** Every stdout line that parsed as an event, in order. */
  readonly events: E[];
  /** The last lines of stderr (for error messages). */
  readonly stderrTail: () => string;
  readonly exited: Promise<number | null>;
  /** The first event that matches, seen or to come; rejects on exit first or after `timeoutMs`. */
  waitFor<T extends E>(match: (e: E) => e is T, timeoutMs: number): Promise<T>;
  /** SIGINT, SIGKILL after `graceMs`; resolves with the exit status. */
  stop(graceMs: number): Promise<number | null>;
}

/** Starts a command whose stdout is JSON lines of `schema` (other lines are ignored). */
export function startJsonLines<S extends z.ZodType>(
  schema: S,
  command: string,
  args: readonly string[],
  cwd: string,
): JsonLinesChild<z.output<S>> {
  type E = z.output<S>;
  const child = spawn(command, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const events: E[] = [];
  const wakers = new Set<() => void>();
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) return;
    events.push(parsed.data);
    for (const wake of wakers) wake();
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 40) stderr.shift();
  });
  const stderrTail = () => stderr.join('\n');
  return {
    process: child,
    events,
    stderrTail,
    exited,
    waitFor<T extends E>(match: (e: E) => e is T, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(
            new ChildProcessError(`${command}: nothing matching after ${timeoutMs} ms\n${stderrTail()}`),
          );
        }, timeoutMs);
        function check(): void {
          const found = events.find(match);
          if (found === undefined) return;
          clearTimeout(timer);
          wakers.delete(check);
          resolve(found);
        }
        wakers.add(check);
        check();
        void exited.then((code) => {
          if (!wakers.has(check)) return;
          clearTimeout(timer);
          wakers.delete(check);
          reject(new ChildProcessError(`${command} exited (${code}) first:\n${stderrTail()}`));
        });
      });
    },
    async stop(graceMs: number): Promise<number | null> {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
