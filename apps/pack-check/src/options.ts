/** Flags of `npm run pack:check`, parsed by commander and validated by zod. */
import { Command } from 'commander';
import { parseCommandLine } from '@slimswarm/node-compat/cli';
import { z } from 'zod';

export const PackCheckFlags = z
  .object({
    skipBuild: z.boolean(),
    keep: z.boolean(),
    roundTimeout: z.coerce.number().int().min(1).max(3600),
    job: z.enum(['quick', 'default']),
  })
  .strict();
export type PackCheckFlags = z.infer<typeof PackCheckFlags>;

export function parsePackCheckArgs(argv: readonly string[]): PackCheckFlags {
  const program = new Command('pack:check')
    .description('Pack the published packages, install them outside the repository and run them from there.')
    .option('--skip-build', 'the packages are built already (npm run build)', false)
    .option('--keep', 'keep the temporary folder with the tarballs and the install', false)
    .option('--round-timeout <s>', "seconds the worker's round may take", '150')
    .option(
      '--job <quick|default>',
      "the worker's job: the default job's model with a one-step round, or the default job",
      'quick',
    );
  return parseCommandLine(program, argv, PackCheckFlags);
}
