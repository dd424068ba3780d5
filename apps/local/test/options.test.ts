/** The demo's flags: zod-validated, bounded by default. */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, parseDemoArgs } from '../src/options.js';

describe('demo options', () => {
  it('runs 10 rounds of 3 peers unless told otherwise', () => {
    const opts = parseDemoArgs([]);
    expect(opts.rounds).toBe(10);
    expect(opts.peers).toBe(3);
    expect(parseDemoArgs(['--rounds', '2', '--peers', '4', '--json']).rounds).toBe(2);
  });

  it('names the flag that is out of range or unknown', () => {
    expect(() => parseDemoArgs(['--rounds', '0'])).toThrow(InvalidOptionError);
    expect(() => parseDemoArgs(['--rounds', '0'])).toThrow(/--rounds/);
    expect(() => parseDemoArgs(['--peers', 'many'])).toThrow(/--peers/);
    expect(() => parseDemoArgs(['--centralised'])).toThrow(InvalidOptionError);
  });
});
