/**
 * Command lines of every slimswarm program: commander parses, zod validates, and every problem — an
 * unknown flag, a missing value, a value of the wrong kind — ends as one InvalidOptionError that names
 * the flag, so users read one clear line instead of a stack trace.
 */
import type { Command } from 'commander';
import type { z } from 'zod';

/** A command-line flag failed validation. */
export class InvalidOptionError extends Error {
  static override name = 'InvalidOptionError';
  override name = 'InvalidOptionError';
}

/** Commander's own exits (help or version printed): the program should end with status 0. */
export function isHelpExit(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === 'commander.helpDisplayed' || code === 'commander.version';
}

const flagOf = (key: PropertyKey | undefined): string =>
  `--${String(key ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Parses `argv` (user arguments only) with `program`, then validates `prepare(options)` with `schema`.
 * Throws InvalidOptionError, or commander's help/version exit (see isHelpExit).
 */
export function parseCommandLine<S extends z.ZodType>(
  program: Command,
  argv: readonly string[],
  schema: S,
  prepare: (options: Record<string, unknown>) => unknown = (o) => o,
): z.output<S> {
  program.exitOverride().configureOutput({ writeErr: () => {} });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (isHelpExit(e) || e instanceof InvalidOptionError) throw e;
    throw new InvalidOptionError((e as Error).message.replace(/^error: /, ''));
  }
  const parsed = schema.safeParse(prepare(program.opts()));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidOptionError(`${flagOf(issue.path[0])}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * parseCommandLine for scripts without an error display of their own (benchmarks): a bad flag prints
 * `<program>: <problem>` and exits with status 2, help exits with 0.
 */
export function parseCommandLineOrExit<S extends z.ZodType>(
  program: Command,
  argv: readonly string[],
  schema: S,
  prepare?: (options: Record<string, unknown>) => unknown,
): z.output<S> {
  try {
    return parseCommandLine(program, argv, schema, prepare);
  } catch (e) {
    if (isHelpExit(e)) process.exit(0);
    if (!(e instanceof InvalidOptionError)) throw e;
    process.stderr.write(`${program.name()}: ${e.message}\n`);
    process.exit(2);
  }
}
