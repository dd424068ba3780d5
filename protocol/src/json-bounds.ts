/**
 * Bounds on the cost of checking untrusted JSON: nesting depth and array lengths checked before parsing,
 * and only the first few zod issues formatted after.
 */
import type { z } from 'zod';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;

/**
 * Whether the arrays and objects in UTF-8 JSON text nest no deeper than `maxDepth` and no array holds
 * more than `maxItems` items. A linear scan run before JSON.parse and zod: hostile nesting makes the
 * parser slow and stack-hungry, and zod validates every item of an array before it checks the array's
 * length. Brackets and commas inside strings do not count; multi-byte UTF-8 never contains these bytes.
 * Malformed JSON may pass; JSON.parse rejects it next.
 */
export function jsonWithinBounds(utf8: Uint8Array, maxDepth: number, maxItems: number): boolean {
  // One entry per open container: the commas seen so far in an array, -1 for an object.
  const open: number[] = [];
  let inString = false;
  for (let i = 0; i < utf8.length; i++) {
    const byte = utf8[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (open.length >= maxDepth) return false;
      open.push(byte === OPEN_BRACKET ? 0 : -1);
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      open.pop();
    } else if (byte === COMMA && open.length > 0) {
      const commas = open[open.length - 1]!;
      if (commas >= 0) {
        if (commas + 1 >= maxItems) return false;
        open[open.length - 1] = commas + 1;
      }
    }
  }
  return true;
}

const ISSUES_SHOWN = 3;

/**
 * The first few zod issues as one line. Hostile input can produce thousands of issues; formatting all of
 * them would cost more than the validation itself.
 */
export function describeIssues(error: z.ZodError): string {
  const shown = error.issues
    .slice(0, ISSUES_SHOWN)
    .map(
      (issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`,
    );
  const more = error.issues.length - ISSUES_SHOWN;
  return more > 0 ? `${shown.join('; ')} (and ${more} more)` : shown.join('; ');
}
