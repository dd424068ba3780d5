import { describe, expect, it } from 'vitest';
import { scrubPii, type PiiKind } from '../src/index.js';

// Each positive is embedded in prose and must be replaced (and counted) as its kind.
const POSITIVES: [PiiKind, string][] = [
  ['email', 'alice.smith+news@example.co.uk'],
  ['email', 'bob_99@mail-server.org'],
  ['card', '4111 1111 1111 1111'],
  ['card', '5500-0000-0000-0004'],
  ['card', '378282246310005'],
  ['phone', '+1 (415) 555-0132'],
  ['phone', '+44 20 7946 0958'],
  ['phone', '415-555-0132'],
  ['phone', '(030) 1234 5678'],
  ['phone', '06 12 34 56 78'],
  ['ip', '192.168.1.254'],
  ['ip', '8.8.8.8'],
  ['ip', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
  ['ip', 'fe80::1ff:fe23:4567:890a'],
  ['secret', 'AKIAIOSFODNN7EXAMPLE'],
  ['secret', 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'],
  ['secret', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv'],
  ['secret', 'xoxb-123456789012-abcdefABCDEF'],
  ['secret', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
  ['secret', 'q8Zt3Vx9Lk2Jm7Np4Rs6Tw1Yb5Cd0Fg8Hj3Kl'],
];

// Text that looks a little like the above and must come through untouched.
const NEGATIVES = [
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse.',
  'The meeting is on 2024-01-15 at 10:30, or 15.01.2024 in German notation.',
  'Version 1.2.3 fixed issue #4521; see section 3.14 and page 1024.',
  'The population grew from 1,234,567 to 2,345,678 between 1990 and 2000.',
  'Invoice 4111 1111 1111 1112 is not a card (it fails the Luhn check).',
  'Order number 123456789, tracking 20240115.',
  'An @-mention like @alice or a decorator @Component is not an email.',
  'The commit 3f9a2b7c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a is lowercase hex, not a secret.',
  'const veryLongIdentifierNameForTheConfigurationLoader = loadConfigurationFromEnvironment();',
  'The ratio was 0.333 and the IP-like 999.1.1.1 is not an address; 300.200.100.50 neither.',
  'Time 12:30:45, a MAC-free sentence with colons: a:b:c.',
];

describe('scrubPii', () => {
  it('replaces every positive with its placeholder and counts it by kind', () => {
    for (const [kind, secret] of POSITIVES) {
      const { text, counts } = scrubPii(`Note: contact ${secret} today.`);
      expect(text, `${kind}: ${secret}`).not.toContain(secret);
      expect(counts[kind], `${kind}: ${secret} → ${text}`).toBe(1);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(total, `${secret} counted once in all: ${JSON.stringify(counts)}`).toBe(1);
    }
  });

  it('leaves prose, dates, versions, numbers, hashes and identifiers untouched', () => {
    for (const text of NEGATIVES) {
      const scrubbed = scrubPii(text);
      expect(scrubbed.text, text).toBe(text);
      expect(Object.values(scrubbed.counts).every((n) => n === 0)).toBe(true);
    }
  });

  it('counts several findings in one text and keeps the rest of it', () => {
    const input = 'Mail a@b.io or c@d.io, card 4111111111111111, server 10.0.0.1.';
    const { text, counts } = scrubPii(input);
    expect(counts).toEqual({ email: 2, card: 1, phone: 0, ip: 1, secret: 0 });
    expect(text).toBe('Mail <email> or <email>, card <card-number>, server <ip-address>.');
  });

  it('scrubs a megabyte of text, every occurrence', () => {
    const big = (NEGATIVES.join(' ') + ' mail x@y.org ').repeat((1 << 20) >> 10);
    const { counts } = scrubPii(big);
    expect(counts.email).toBe(1 << 10);
  });
});
