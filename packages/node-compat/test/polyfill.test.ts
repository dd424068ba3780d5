import { describe, expect, it } from 'vitest';
import { installNodePolyfills, withResolvers } from '../src/index.js';

describe('node-compat polyfills', () => {
  it('provides Promise.withResolvers that resolves and rejects', async () => {
    installNodePolyfills();
    const P = Promise as unknown as { withResolvers<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } };
    const ok = P.withResolvers<number>();
    ok.resolve(42);
    await expect(ok.promise).resolves.toBe(42);
    const bad = P.withResolvers<number>();
    bad.reject(new Error('nope'));
    await expect(bad.promise).rejects.toThrow('nope');
  });

  it('the fallback implementation works when called detached from Promise', async () => {
    const r = withResolvers<string>();
    r.resolve('x');
    await expect(r.promise).resolves.toBe('x');
  });

  it('provides a global WebSocket class', () => {
    installNodePolyfills();
    const WS = (globalThis as { WebSocket?: { OPEN?: number } }).WebSocket;
    expect(typeof WS).toBe('function');
    expect(WS?.OPEN).toBe(1);
  });

  it('is idempotent', () => {
    installNodePolyfills();
    expect(installNodePolyfills()).toEqual([]);
  });
});
