/**
 * The flags that say where `slimswarm-generate` and `slimswarm-export` take the model from (one of
 * --checkpoint or --coordinator; model-source.ts reads it), defined once for both.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { CoordinatorUrl, JobKeyFlag } from './flags.js';
import type { ModelSource } from './model-source.js';
import { readTicket } from './ticket-file.js';

export const ModelFlags = z.object({
  checkpoint: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  base: z.string().min(1).optional(),
  tokenizer: z.string().min(1).optional(),
  tokenizerConfig: z.string().min(1).optional(),
  coordinator: CoordinatorUrl.optional(),
  jobKey: JobKeyFlag.optional(),
  invite: z.string().min(1).max(256).optional(),
  ticket: z.string().min(1).optional(),
});
export type ModelFlags = z.infer<typeof ModelFlags>;

/** Exactly one source; --config goes with a checkpoint, the admission flags with a coordinator. */
export function refineModelFlags<T extends ModelFlags>(schema: z.ZodType<T>) {
  return schema
    .refine((o) => (o.checkpoint === undefined) !== (o.coordinator === undefined), {
      message: 'give either --checkpoint <file|dir> or --coordinator <url> (one of them)',
      path: ['checkpoint'],
    })
    .refine((o) => o.config === undefined || o.checkpoint !== undefined, {
      message: 'goes with --checkpoint (it names the model of a weights-only file)',
      path: ['config'],
    })
    .refine((o) => o.base === undefined || o.checkpoint !== undefined, {
      message: "goes with --checkpoint (the base a LoRA checkpoint's adapters were trained on)",
      path: ['base'],
    })
    .refine((o) => o.tokenizer === undefined || o.checkpoint !== undefined, {
      message: "goes with --checkpoint (a coordinator's job and an export folder name their own tokenizer)",
      path: ['tokenizer'],
    })
    .refine((o) => o.tokenizerConfig === undefined || o.tokenizer !== undefined, {
      message: 'goes with --tokenizer',
      path: ['tokenizerConfig'],
    });
}

export function addModelFlags(program: Command): Command {
  return program
    .option(
      '--checkpoint <file|dir>',
      "a model file: a worker's trainer.safetensors (or its --checkpoint-dir), an export folder, or weights only with --config",
    )
    .option(
      '--config <file>',
      'the model of a weights-only checkpoint: a model config, job manifest or /api/job listing (JSON)',
    )
    .option(
      '--base <file>',
      'with a LoRA checkpoint: the base checkpoint its adapters were trained on (checked by hash, merged in)',
    )
    .option(
      '--tokenizer <file>',
      "with --checkpoint: the job's Hugging Face tokenizer.json (default: the byte tokenizer)",
    )
    .option('--tokenizer-config <file>', 'with --tokenizer: its tokenizer_config.json')
    .option('--coordinator <url>', "take the swarm's current shared model from this job's coordinator")
    .option(
      '--job-key <hex>',
      "with --coordinator: the job's public key to trust (default: any validly signed job)",
    )
    .option('--invite <code>', 'with --coordinator: an invite code for an invite-only job')
    .option('--ticket <file>', 'with --coordinator: an admission ticket from the operator');
}

export async function modelSourceOf(flags: ModelFlags, signal?: AbortSignal): Promise<ModelSource> {
  if (flags.coordinator === undefined)
    return {
      kind: 'checkpoint',
      path: flags.checkpoint!,
      ...(flags.config ? { config: flags.config } : {}),
      ...(flags.base ? { base: flags.base } : {}),
      ...(flags.tokenizer
        ? {
            tokenizer: {
              tokenizer: flags.tokenizer,
              ...(flags.tokenizerConfig ? { config: flags.tokenizerConfig } : {}),
            },
          }
        : {}),
    };
  return {
    kind: 'coordinator',
    url: flags.coordinator,
    ...(flags.jobKey ? { jobKey: flags.jobKey } : {}),
    ...(flags.invite ? { invite: flags.invite } : {}),
    ...(flags.ticket ? { ticket: await readTicket(flags.ticket) } : {}),
    ...(signal ? { signal } : {}),
  };
}
