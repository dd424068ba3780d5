import { describe, expect, it } from 'vitest';
import { privacyNote, scrubNote } from '../src/display.js';

describe("the worker's round line", () => {
  it('names the ε and releases of a private job, and nothing otherwise', () => {
    expect(privacyNote({ epsilon: 3.14159, privacyReleases: 12 })).toBe(
      ' · privacy ε 3.14 after 12 releases',
    );
    expect(privacyNote({})).toBe('');
  });
});

describe("the worker's scrub line", () => {
  it('names the kinds found and their counts, or that nothing was found', () => {
    expect(scrubNote({ email: 2, card: 0, phone: 1, ip: 0, secret: 0 })).toBe(
      'scrubbed before training: 2 email addresses, 1 phone number',
    );
    expect(scrubNote({ email: 0, card: 0, phone: 0, ip: 0, secret: 0 })).toBe(
      'scrubbed before training: nothing',
    );
  });
});
