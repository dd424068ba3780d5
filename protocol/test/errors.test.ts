import { describe, expect, it } from 'vitest';
import * as protocol from '../src/index.js';
import { ProtocolError, UnsupportedVersionError, isProtocolError } from '../src/index.js';

type ErrorClass = new (...args: unknown[]) => ProtocolError;

const errorClasses = Object.entries(protocol as Record<string, unknown>).filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === 'function' && (entry[1] as { prototype: unknown }).prototype instanceof ProtocolError,
);

describe('protocol errors', () => {
  it('every class has a stable name equal to its class name and a unique ERR_ code', () => {
    expect(errorClasses.length).toBeGreaterThanOrEqual(13);
    const codes = new Set<string>();
    for (const [exportName, ErrorClass] of errorClasses) {
      const error = new ErrorClass('x', 1, 2);
      expect(error.name).toBe(exportName);
      expect(error.code).toMatch(/^ERR_[A-Z0-9_]+$/);
      expect(error).toBeInstanceOf(Error);
      expect(isProtocolError(error)).toBe(true);
      // The name list behind the cross-copy check must know every class.
      expect(isProtocolError(Object.assign(new Error('x'), { name: error.name, code: error.code }))).toBe(
        true,
      );
      codes.add(error.code);
    }
    expect(codes.size).toBe(errorClasses.length);
  });

  it('isProtocolError recognises errors from another copy of the package by name and code', () => {
    const foreign = Object.assign(new Error('x'), {
      name: 'TruncatedFrameError',
      code: 'ERR_TRUNCATED_FRAME',
    });
    expect(isProtocolError(foreign)).toBe(true);
    expect(isProtocolError(new TypeError('x'))).toBe(false);
    expect(isProtocolError(Object.assign(new Error('x'), { name: 'TruncatedFrameError' }))).toBe(false);
    expect(isProtocolError({ name: 'TruncatedFrameError', code: 'ERR_TRUNCATED_FRAME' })).toBe(false);
  });

  it('UnsupportedVersionError says whether the version is newer', () => {
    expect(new UnsupportedVersionError(2, 1).newer).toBe(true);
    expect(new UnsupportedVersionError(0, 1).newer).toBe(false);
  });
});
