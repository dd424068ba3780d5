/**
 * Admission tickets for invite jobs: `POST /api/ticket { peerId, invite }` trades one of the operator's
 * invite codes for the job key's signature over (job, peer id). Each code admits one peer id once; a
 * redeemed code is struck from the invite file (rewritten atomically) before the ticket is handed out, so
 * a restart does not make it valid again.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { TicketRequest, issueTicket, type JobManifest, type TicketGrant } from '@slimswarm/protocol';
import type { JobKey } from './job-key.js';

/** The invite file cannot be read. */
export class InviteCodesError extends Error {
  static override name = 'InviteCodesError';
  override name = 'InviteCodesError';
}

export type TicketAnswer = { status: 200; grant: TicketGrant } | { status: 400 | 403; error: string };

export class InviteCodes {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly codes: Set<string>,
  ) {}

  /** One code per line; blank lines and lines starting with `#` are skipped. */
  static async load(path: string): Promise<InviteCodes> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new InviteCodesError(`cannot read invite codes ${path}: ${(e as Error).message}`);
    }
    const codes = text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    return new InviteCodes(path, new Set(codes));
  }

  get remaining(): number {
    return this.codes.size;
  }

  /** Strikes `code` (persisted) and reports whether it was valid; one redemption at a time. */
  redeem(code: string): Promise<boolean> {
    const run = this.queue.then(async () => {
      if (!this.codes.delete(code)) return false;
      await writeFileAtomic(this.path, [...this.codes].map((c) => `${c}\n`).join(''), 0o600);
      return true;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Answers one ticket request: a valid body and an unused code get the job key's ticket for the peer. */
export async function answerTicketRequest(
  body: unknown,
  manifest: JobManifest,
  key: JobKey,
  invites: InviteCodes | null,
): Promise<TicketAnswer> {
  const request = TicketRequest.safeParse(body);
  if (!request.success) return { status: 400, error: request.error.issues[0]?.message ?? 'invalid request' };
  if (!invites || !(await invites.redeem(request.data.invite)))
    return { status: 403, error: 'unknown or used invite code' };
  const ticket = issueTicket(manifest, request.data.peerId, key.secretKey);
  return { status: 200, grant: { jobId: manifest.jobId, peerId: request.data.peerId, ticket } };
}
