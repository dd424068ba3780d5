import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobManifest, canonicalJson, manifestSha256, sha256Hex } from '../src/index.js';
import { jobManifest } from './arbitraries.js';
import { errorName } from './helpers.js';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(sha256Hex(new Uint8Array(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and writes no whitespace', () => {
    expect(canonicalJson({ b: [{ z: 1, a: null }], a: 'x', c: undefined, é: true, Z: -0 })).toBe(
      '{"Z":0,"a":"x","b":[{"a":null,"z":1}],"é":true}',
    );
  });

  it('equals JSON.parse-stable output whatever the insertion order', () => {
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what JSON cannot hold', () => {
    for (const value of [Number.NaN, Infinity, 1n, () => 1, new Date(0), [undefined]]) {
      expect(errorName(() => canonicalJson(value))).toBe('SchemaViolationError');
    }
  });
});

describe('manifestSha256', () => {
  it('is the same with or without spelled-out defaults, and changes with any field', () => {
    fc.assert(
      fc.property(jobManifest, (manifest) => {
        const parsed = JobManifest.parse(manifest);
        expect(manifestSha256(manifest)).toBe(manifestSha256(parsed));
        expect(manifestSha256({ ...parsed, title: `${parsed.title}!` })).not.toBe(manifestSha256(parsed));
      }),
      { numRuns: 50 },
    );
  });

  it('rejects an invalid manifest with a typed error', () => {
    const [manifest] = fc.sample(jobManifest, { numRuns: 1, seed: 5 });
    expect(errorName(() => manifestSha256({ ...manifest!, jobId: '' }))).toBe('SchemaViolationError');
  });
});
