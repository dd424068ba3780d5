import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeIssues, jsonWithinBounds } from '../src/json-bounds.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Depth and longest array of a parsed JSON value, computed the obvious way. */
function measure(value: unknown): { depth: number; items: number } {
  if (value === null || typeof value !== 'object') return { depth: 0, items: 0 };
  const children = Array.isArray(value) ? value : Object.values(value);
  const inner = children.map(measure);
  return {
    depth: 1 + Math.max(0, ...inner.map((m) => m.depth)),
    items: Math.max(Array.isArray(value) ? value.length : 0, ...inner.map((m) => m.items)),
  };
}

describe('jsonWithinBounds', () => {
  it('agrees with the depth and array lengths of the parsed value', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6 }),
        fc.nat(7),
        fc.integer({ min: 1, max: 6 }),
        (value, maxDepth, maxItems) => {
          const { depth, items } = measure(value);
          expect(jsonWithinBounds(utf8(JSON.stringify(value)), maxDepth, maxItems)).toBe(
            depth <= maxDepth && items <= maxItems,
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('ignores brackets, commas and escaped quotes inside strings', () => {
    expect(jsonWithinBounds(utf8('{"a":"[[[,,,\\"[[["}'), 1, 1)).toBe(true);
    expect(jsonWithinBounds(utf8('[[1]]'), 1, 10)).toBe(false);
    expect(jsonWithinBounds(utf8('[1,2,3]'), 1, 2)).toBe(false);
    expect(jsonWithinBounds(utf8('{"a":1,"b":2,"c":3}'), 1, 1)).toBe(true);
  });
});

describe('describeIssues', () => {
  it('shows the first three issues and counts the rest', () => {
    const result = z.array(z.string()).safeParse([1, 2, 3, 4, 5]);
    expect(result.success).toBe(false);
    if (!result.success) expect(describeIssues(result.error)).toMatch(/^0: .*; 1: .*; 2: .* \(and 2 more\)$/);
  });
});
