/**
 * Local PII scrubbing before tokenising: what a volunteer's text most often contains that it would not
 * want a model to memorise. Each match is replaced by a placeholder naming its kind, and the counts are
 * returned for the volunteer's own page — they never go on the wire.
 *
 * Written here rather than taken from npm: the maintained redaction packages call cloud DLP services or
 * pull in NLP models, and this must run offline, in a tab, on megabytes of text, with no dependency. The
 * patterns aim at few false positives on prose and code: card numbers must pass the Luhn check, IPv4
 * octets must be ≤ 255, secrets are the documented prefixes of common providers or long high-entropy
 * tokens that mix letters and digits.
 */
export type PiiKind = 'email' | 'card' | 'phone' | 'ip' | 'secret';

export const PII_KINDS: readonly PiiKind[] = ['secret', 'email', 'card', 'ip', 'phone'];

export interface ScrubResult {
  text: string;
  /** How many of each kind were replaced. */
  counts: Record<PiiKind, number>;
}

const PLACEHOLDER: Record<PiiKind, string> = {
  email: '<email>',
  card: '<card-number>',
  phone: '<phone>',
  ip: '<ip-address>',
  secret: '<secret>',
};

/** Luhn checksum over the digits of a candidate card number. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const freq = new Map<string, number>();
  for (const ch of s) freq.set(ch, (freq.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of freq.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** Dates look like grouped digits: 2024-01-15, 2024.01.15, 15.01.2024, 15-01-2024, 15/01/2024. */
const DATE = /^(?:\d{4}[.-]\d{2}[.-]\d{2}|\d{2}[.-]\d{2}[.-]\d{4})$/;

/** Four dotted groups of ≤ 3 digits are an (invalid) address or a version, not a phone number. */
const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/;

interface Rule {
  kind: PiiKind;
  pattern: RegExp;
  /** Extra check on the match (the regex alone would flag too much). */
  accept?: (match: string) => boolean;
}

// Order matters: secrets first (a key can contain an @ or digit runs), then emails (before phones eat
// their digits), cards before phones (both are digit runs), IPs before phones.
const RULES: readonly Rule[] = [
  {
    kind: 'secret',
    pattern:
      /\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})/g,
  },
  {
    // Long tokens mixing upper, lower case and digits with high entropy: API keys without a known prefix.
    kind: 'secret',
    pattern: /\b[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])/g,
    accept: (m) => /[a-z]/.test(m) && /[A-Z]/.test(m) && /[0-9]/.test(m) && entropy(m) > 4,
  },
  {
    kind: 'email',
    pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g,
  },
  {
    kind: 'card',
    pattern: /\b\d(?:[ -]?\d){12,18}\b/g,
    accept: (m) => luhnValid(m.replace(/[ -]/g, '')),
  },
  {
    kind: 'ip',
    pattern: /\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b/g,
  },
  {
    // Full IPv6 (eight groups) or compressed with "::" and at least three groups.
    kind: 'ip',
    pattern:
      /(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])|(?<![\w:])(?=(?:[0-9A-Fa-f]{0,4}:){3,7}[0-9A-Fa-f]{0,4}(?![\w:]))(?:[0-9A-Fa-f]{1,4}:)*[0-9A-Fa-f]{0,4}::(?:[0-9A-Fa-f]{1,4}:)*[0-9A-Fa-f]{1,4}(?![\w:])/g,
  },
  {
    // International (+CC …) or North-American / European groupings of 7–15 digits with separators.
    kind: 'phone',
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])/g,
    accept: (m) => {
      const digits = m.replace(/\D/g, '');
      // Separators are required (a bare number is a number), and dates/versions are not phones.
      return (
        digits.length >= 7 &&
        digits.length <= 15 &&
        /[ .()-]/.test(m) &&
        !DATE.test(m) &&
        !DOTTED_QUAD.test(m)
      );
    },
  },
];

export function scrubPii(text: string): ScrubResult {
  const counts: Record<PiiKind, number> = { email: 0, card: 0, phone: 0, ip: 0, secret: 0 };
  let out = text;
  for (const rule of RULES) {
    out = out.replace(rule.pattern, (match) => {
      if (rule.accept && !rule.accept(match)) return match;
      counts[rule.kind]++;
      return PLACEHOLDER[rule.kind];
    });
  }
  return { text: out, counts };
}
