/** Flags shared by `npm start` and `npm run demo`, parsed by commander and validated by zod. */
import { Command } from 'commander';
import { InvalidOptionError, parseCommandLine } from '@slimswarm/node-compat/cli';
import { z } from 'zod';
import { join } from 'node:path';
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
    json: z.boolean(),
    verbose: z.boolean(),
  })
  .strict();
export type LaunchOptions = z.infer<typeof LaunchOptions>;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function parseLaunchArgs(name: string, description: string, argv: readonly string[]): LaunchOptions {
  const program = new Command(name)
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
    .option('--json', 'JSON lines only', false)
    .option('--verbose', "show every process's own output", false);
  return parseCommandLine(program, argv, LaunchOptions);
}
