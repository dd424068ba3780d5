/**
 * Command-line flags of `slimswarm-worker`, parsed by commander and validated by zod, so every bad value
 * ends in one clear InvalidOptionError naming the flag.
 */
import { Command } from 'commander';
import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import { parseCommandLine } from '@slimswarm/node-compat/cli';
import { DEFAULT_EVAL_EVERY, DEFAULT_OVERLAP_STEPS } from '@slimswarm/client';
import { CoordinatorUrl, JobKeyFlag, Threads, integer } from './flags.js';

const Multiaddr = z.string().refine(
  (s) => {
    try {
      multiaddr(s);
      return s.startsWith('/');
    } catch {
      return false;
    }
  },
  { message: 'not a multiaddr (expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…)' },
);

export const WorkerOptions = z
  .object({
    data: z.array(z.string().min(1)).min(1, 'give at least one --data <file|dir|glob>'),
    coordinator: CoordinatorUrl,
    bootstrap: z.array(Multiaddr).default([]),
    checkpointDir: z.string().min(1),
    threads: Threads,
    json: z.boolean(),
    eval: z.string().min(1).optional(),
    rounds: z.number().int().min(1).optional(),
    evalEvery: z.number().int().min(1).optional(),
    overlapSteps: z.number().int().min(0).optional(),
    listen: z.array(Multiaddr).default(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']),
    name: z.string().min(1).max(64).optional(),
    /** The job key to trust (else the key the coordinator serves first is pinned). */
    jobKey: JobKeyFlag.optional(),
    /** An invite code, traded at the coordinator for an admission ticket (invite-only jobs). */
    invite: z.string().min(1).max(256).optional(),
    /** A ticket file as `slimswarm-coordinator ticket` prints it. */
    ticket: z.string().min(1).optional(),
    /** Scrub PII from the text before tokenising (on unless --no-scrub); the counts are printed here only. */
    scrub: z.boolean(),
  })
  .strict();
export type WorkerOptions = z.infer<typeof WorkerOptions>;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function parseWorkerArgs(argv: readonly string[], defaults: { threads: number }): WorkerOptions {
  const program = new Command('slimswarm-worker')
    .description('Train the shared model on local text; only compressed weight deltas leave this machine.')
    .option('--data <file|dir|glob>', 'local training text (repeatable; never sent anywhere)', collect)
    .option('--coordinator <url>', 'the job coordinator', 'http://127.0.0.1:8700')
    .option('--bootstrap <multiaddr>', 'extra peer to dial (repeatable)', collect)
    .option('--checkpoint-dir <dir>', 'where checkpoints are written', '.slimswarm/worker')
    .option('--threads <n>', 'compute threads', integer('--threads'), defaults.threads)
    .option('--json', 'print JSON lines instead of a progress display', false)
    .option('--eval <file>', 'held-out text: report its loss now and then (see --eval-every)')
    .option(
      '--eval-every <n>',
      `rounds between held-out evaluations (default ${DEFAULT_EVAL_EVERY}; also after the last round)`,
      integer('--eval-every'),
    )
    .option(
      '--overlap-steps <n>',
      `local steps taken while a round closes (default ${DEFAULT_OVERLAP_STEPS}; 0: wait for each close)`,
      integer('--overlap-steps'),
    )
    .option('--rounds <n>', 'stop after this many rounds', integer('--rounds'))
    .option('--listen <multiaddr>', 'listen address (repeatable)', collect)
    .option('--name <name>', 'a label shown on the dashboard')
    .option('--job-key <hex>', "the job's public key to trust (default: pin the key first served)")
    .option('--invite <code>', 'an invite code for an invite-only job')
    .option('--ticket <file>', 'an admission ticket from the operator (slimswarm-coordinator ticket)')
    .option(
      '--no-scrub',
      'train on the text as it is, without replacing emails, card numbers, phones, IPs and keys',
    );
  return parseCommandLine(program, argv, WorkerOptions, (raw) => ({ ...raw, data: raw.data ?? [] }));
}
