/** An admission ticket in the file `slimswarm-coordinator ticket` wrote (`--ticket`, invite-only jobs). */
import { readFile } from 'node:fs/promises';
import { TicketGrant } from '@slimswarm/client';
import { InvalidOptionError } from './errors.js';

/** The ticket (checked against the peer id when used). */
export async function readTicket(path: string): Promise<TicketGrant['ticket']> {
  let grant;
  try {
    grant = TicketGrant.safeParse(JSON.parse(await readFile(path, 'utf8')));
  } catch (e) {
    throw new InvalidOptionError(`--ticket ${path}: ${(e as Error).message}`);
  }
  if (!grant.success) throw new InvalidOptionError(`--ticket ${path} does not hold a ticket`);
  return grant.data.ticket;
}
