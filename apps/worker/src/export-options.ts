/** Command-line flags of `slimswarm-export`, parsed by commander and validated by zod (see options.ts). */
import { Command } from 'commander';
import { z } from 'zod';
import { parseCommandLine } from '@slimswarm/node-compat/cli';
import { ModelFlags, addModelFlags, refineModelFlags } from './model-flags.js';

export const ExportOptions = refineModelFlags(
  ModelFlags.extend({
    out: z.string().min(1, 'give the folder to write'),
    force: z.boolean(),
    json: z.boolean(),
    merged: z.boolean(),
  }).strict(),
);
export type ExportOptions = z.infer<typeof ExportOptions>;

export function parseExportArgs(argv: readonly string[]): ExportOptions {
  const program = addModelFlags(
    new Command('slimswarm-export').description(
      "Write a slimswarm model — the swarm's current one, or a checkpoint — as a self-contained folder: " +
        'model.safetensors, config.json, tokenizer.json and decoder_step.onnx (runs in any onnxruntime).',
    ),
  )
    .requiredOption('--out <dir>', 'the folder to write (written whole, or not at all)')
    .option('--force', 'replace the folder if it exists', false)
    .option(
      '--merged',
      'with a LoRA checkpoint and --base: write the full merged weights (W + s·A·B) as the export folder; without it the folder holds the adapters and the base hash',
      false,
    )
    .option('--json', 'print one JSON line saying what was written', false);
  return parseCommandLine(program, argv, ExportOptions);
}
