/** Flags shared by `npm start` and `npm run demo`, parsed by commander and validated by zod. */
import { Command } from 'commander';
import { InvalidOptionError, parseCommandLine } from '@slimswarm/node-compat/cli';
import { z } from 'zod';
import { join } from 'node:path';
import { DEFAULT_EVAL_EVERY, DEFAULT_OVERLAP_STEPS } from '@slimswarm/client';
import { REPO_ROOT } from './processes.js';

export { InvalidOptionError };

export const LaunchOptions = z
  .object({
    peers: z.coerce.number().int().min(1).max(32),
    data: z.array(z.string().min(1)).optional(),
    rounds: z.coerce.number().int().min(1).max(100_000).optional(),
    port: z.coerce.number().int().min(0).max(65535),
    outDir: z.string().min(1),
    threads: z.coerce.number().int().min(1).max(64),
    evalEvery: z.coerce.number().int().min(1).max(100_000),
    overlapSteps: z.coerce.number().int().min(0).max(100_000),
    json: z.boolean(),
    verbose: z.boolean(),
  })
  .strict();
export type LaunchOptions = z.infer<typeof LaunchOptions>;

/** The demo is a bounded experiment: it always stops, after 10 rounds unless told otherwise. */
export const DemoOptions = LaunchOptions.extend({
  rounds: z.coerce.number().int().min(1).max(100_000).default(10),
});
export type DemoOptions = z.infer<typeof DemoOptions>;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function launchCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('--peers <n>', 'local workers', '3')
    .option('--data <file|dir|glob>', 'your own text instead of the default corpus (repeatable)', collect)
    .option('--rounds <n>', 'stop after this many rounds')
    .option('--port <port>', 'coordinator HTTP port (0: any free port)', '8700')
    .option(
      '--out-dir <dir>',
      'scratch folder for shards and checkpoints',
      join(REPO_ROOT, '.slimswarm', name),
    )
    .option('--threads <n>', 'compute threads per worker', '1')
    .option('--eval-every <n>', "rounds between worker 0's held-out scores", String(DEFAULT_EVAL_EVERY))
    .option(
      '--overlap-steps <n>',
      'local steps a worker takes while a round closes (0: wait)',
      String(DEFAULT_OVERLAP_STEPS),
    )
    .option('--json', 'JSON lines only', false)
    .option('--verbose', "show every process's own output", false);
}

export function parseLaunchArgs(name: string, description: string, argv: readonly string[]): LaunchOptions {
  return parseCommandLine(launchCommand(name, description), argv, LaunchOptions);
}

export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const description =
    'A bounded experiment on loopback: the swarm, worker 0 alone, and centralized training.';
  return parseCommandLine(launchCommand('demo', description), argv, DemoOptions);
}
