/** The words for what local scrubbing replaced, the same on the worker's terminal and on the tab's page. */
import type { ScrubCounts } from './scrub-source.js';

const NAMES: Record<keyof ScrubCounts, [one: string, many: string]> = {
  email: ['email address', 'email addresses'],
  card: ['card number', 'card numbers'],
  phone: ['phone number', 'phone numbers'],
  ip: ['IP address', 'IP addresses'],
  secret: ['key or secret', 'keys or secrets'],
};

/** E.g. "2 email addresses, 1 phone number"; "nothing" when every count is 0. */
export function describeScrubCounts(counts: ScrubCounts): string {
  const found = (Object.keys(NAMES) as (keyof ScrubCounts)[])
    .filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${NAMES[k][counts[k] === 1 ? 0 : 1]}`);
  return found.length > 0 ? found.join(', ') : 'nothing';
}
