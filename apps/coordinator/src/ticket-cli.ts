/**
 * `slimswarm-coordinator ticket --job-key <file> --peer <id>`: the operator issues an admission ticket by
 * hand (an invite job's volunteer passes it to its worker with `--ticket`). It loads the job exactly as
 * the coordinator publishes it — same base, manifest and key, so the same job id — and prints the ticket
 * as JSON (the TicketGrant that POST /api/ticket answers).
 */
import { Command } from 'commander';
import { parseCommandLine } from '@slimswarm/node-compat/cli';
import { TicketRequest, issueTicket, type TicketGrant } from '@slimswarm/protocol';
import { DEFAULT_BASE_PATH } from '@slimswarm/default-job/job';
import { z } from 'zod';
import { loadJobKey } from './job-key.js';
import { loadJob } from './published-job.js';

export const TicketOptions = z
  .object({
    jobKey: z.string().min(1),
    peer: TicketRequest.shape.peerId,
    base: z.string().min(1),
    manifest: z.string().min(1).optional(),
    /** The model folder of a `--model` job: its name gives the job id a ticket signs. */
    model: z.string().min(1).optional(),
  })
  .strict();
export type TicketOptions = z.infer<typeof TicketOptions>;

export function parseTicketArgs(argv: readonly string[]): TicketOptions {
  const program = new Command('slimswarm-coordinator ticket')
    .description("Issue an admission ticket: the job key's signature admitting one peer id to the job.")
    .requiredOption('--job-key <file>', 'the job key file the coordinator runs with')
    .requiredOption('--peer <id>', 'the peer id to admit')
    .option('--base <file>', 'base checkpoint (safetensors)', DEFAULT_BASE_PATH)
    .option('--manifest <file>', 'job manifest JSON (default: the embedded default job)')
    .option('--model <folder>', 'the Hugging Face model folder the coordinator runs with --model');
  return parseCommandLine(program, argv, TicketOptions, (raw) => raw);
}

export async function issueTicketFromCli(options: TicketOptions): Promise<TicketGrant> {
  const key = await loadJobKey(options.jobKey);
  // A ticket signs (job id, peer id) only, so the admission mode the coordinator runs with does not matter.
  const { manifest } = await loadJob({
    basePath: options.base,
    key,
    ...(options.manifest !== undefined ? { manifestPath: options.manifest } : {}),
    ...(options.model !== undefined ? { model: { dir: options.model } } : {}),
  });
  return {
    jobId: manifest.jobId,
    peerId: options.peer,
    ticket: issueTicket(manifest, options.peer, key.secretKey),
  };
}
