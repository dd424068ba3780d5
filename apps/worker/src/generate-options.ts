/**
 * Command-line flags of `slimswarm-generate`, parsed by commander and validated by zod, so every bad value
 * ends in one clear InvalidOptionError naming the flag. Sampling flags left out take the decoder's own
 * defaults (performer's SampleOptions), so they are defined in one place.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { parseCommandLine } from '@slimswarm/node-compat/cli';
import { Threads, decimal, integer } from './flags.js';
import { ModelFlags, addModelFlags, refineModelFlags } from './model-flags.js';

export const GenerateOptions = refineModelFlags(
  ModelFlags.extend({
    prompt: z.string().min(1, 'give the text to continue (at least one character)'),
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .optional(),
    temperature: z.number().finite().min(0).max(1000).optional(),
    topK: z.number().int().min(0).optional(),
    topP: z.number().finite().gt(0).max(1).optional(),
    seed: z.number().int().min(0).max(0xffff_ffff).optional(),
    threads: Threads,
    json: z.boolean(),
  }).strict(),
);
export type GenerateOptions = z.infer<typeof GenerateOptions>;

export function parseGenerateArgs(argv: readonly string[], defaults: { threads: number }): GenerateOptions {
  const program = addModelFlags(
    new Command('slimswarm-generate').description(
      "Continue a prompt with a slimswarm model — the swarm's current one, or a checkpoint — printing the text as it is sampled.",
    ),
  )
    .requiredOption('--prompt <text>', 'the text to continue')
    .option(
      '--max-tokens <n>',
      'tokens to generate at most (bytes, with the byte tokenizer)',
      integer('--max-tokens'),
    )
    .option(
      '--temperature <t>',
      'sampling temperature; 0 always picks the most likely token',
      decimal('--temperature'),
    )
    .option('--top-k <k>', 'sample among the k most likely tokens only; 0: all', integer('--top-k'))
    .option(
      '--top-p <p>',
      'sample among the most likely tokens whose probability reaches p; 1: all',
      decimal('--top-p'),
    )
    .option('--seed <n>', 'seeds the sampling: equal seeds, equal text', integer('--seed'))
    .option('--threads <n>', 'compute threads', integer('--threads'), defaults.threads)
    .option('--json', 'print JSON lines (model, token, done) instead of plain text', false);
  return parseCommandLine(program, argv, GenerateOptions);
}
