import { describe, expect, it } from 'vitest';
import { privacyNote } from '../src/display.js';

describe("the worker's round line", () => {
  it('names the ε and releases of a private job, and nothing otherwise', () => {
    expect(privacyNote({ epsilon: 3.14159, privacyReleases: 12 })).toBe(
      ' · privacy ε 3.14 after 12 releases',
    );
    expect(privacyNote({})).toBe('');
  });
});
