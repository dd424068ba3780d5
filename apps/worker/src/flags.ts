/** Flag parts the slimswarm CLIs share (the worker, generate, export): same names, same checks, same words. */
import { z } from 'zod';
import { InvalidOptionError } from '@slimswarm/node-compat/cli';

export const CoordinatorUrl = z.url({
  protocol: /^https?$/,
  error: 'expected an http(s) URL of the coordinator',
});

/** The job key to trust (else the key the coordinator serves first is pinned, or any valid one). */
export const JobKeyFlag = z.string().regex(/^[0-9a-f]{64}$/, 'expected the job key as 64 hex characters');

export const Threads = z.number().int().min(1).max(64);

/** Commander's parser for a non-negative integer flag. */
export function integer(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new InvalidOptionError(`${flag} expects a positive integer, got "${value}"`);
    return Number(value);
  };
}

/** Commander's parser for a number flag. */
export function decimal(flag: string) {
  return (value: string): number => {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value))
      throw new InvalidOptionError(`${flag} expects a number, got "${value}"`);
    return Number(value);
  };
}
