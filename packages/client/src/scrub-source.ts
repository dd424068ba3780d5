/**
 * A volunteer's text with its PII scrubbed (@slimswarm/privacy's scrubPii), still as a stream of bytes, so
 * that the tokenizer — and so the engine, the delta and the swarm — only ever see the scrubbed text.
 * Memory stays flat in the size of the text: it is scrubbed a piece at a time, cut after a line break.
 */
import { PII_KINDS, scrubPii, type PiiKind } from '@slimswarm/privacy';
import type { ByteSource } from '@slimswarm/performer';

export type ScrubCounts = Record<PiiKind, number>;

/** What one pass over the text replaced so far; `complete` once the whole text was read. */
export interface ScrubReport {
  counts: ScrubCounts;
  complete: boolean;
}

/** A line longer than this is cut at a space anyway, to bound memory (see scrubbedSource). */
export const MAX_SCRUB_PIECE_CHARS = 1 << 20;

/**
 * Where `text` may be cut without splitting anything scrubPii would match: after its last line break, as
 * no pattern matches across one. 0 when there is none.
 */
function lastCut(text: string): number {
  const cut = text.lastIndexOf('\n') + 1;
  if (cut > 0 || text.length <= MAX_SCRUB_PIECE_CHARS) return cut;
  // A line over 1 MiB: cut at its last space or tab. Phone and card numbers may hold spaces, so one that
  // straddles this cut is missed; emails, addresses and keys hold none.
  const space = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\t')) + 1;
  if (space > 0) return space;
  let at = MAX_SCRUB_PIECE_CHARS;
  if (/[\uD800-\uDBFF]/.test(text[at - 1]!)) at--; // keep a surrogate pair whole
  return at;
}

const noCounts = (): ScrubCounts => ({ email: 0, card: 0, phone: 0, ip: 0, secret: 0 });

/**
 * `source` with PII replaced by placeholders. The text is decoded as UTF-8 (bytes that are not UTF-8
 * become U+FFFD: a pattern needs characters to match) and re-encoded after scrubbing. `report` hears the
 * counts of the first pass only — every later pass reads the same text and would count the same — each
 * time they grow and once at its end, so a page can show them while a long text is still being read.
 */
export function scrubbedSource(source: ByteSource, report: (r: ScrubReport) => void): ByteSource {
  let passes = 0;
  return async function* () {
    const first = passes++ === 0;
    const totals = noCounts();
    const utf8 = new TextDecoder('utf-8');
    const encoder = new TextEncoder();
    const scrub = (text: string): Uint8Array => {
      const { text: clean, counts } = scrubPii(text);
      if (first && PII_KINDS.some((k) => counts[k] > 0)) {
        for (const k of PII_KINDS) totals[k] += counts[k];
        report({ counts: { ...totals }, complete: false });
      }
      return encoder.encode(clean);
    };
    let pending = '';
    for await (const chunk of source()) {
      pending += utf8.decode(chunk, { stream: true });
      const cut = lastCut(pending);
      if (cut === 0) continue;
      yield scrub(pending.slice(0, cut));
      pending = pending.slice(cut);
    }
    pending += utf8.decode();
    if (pending.length > 0) yield scrub(pending);
    if (first) report({ counts: { ...totals }, complete: true });
  };
}
