import { afterEach, describe, expect, it } from 'vitest';
import { installNodePolyfills, withResolvers } from '../src/index.js';

type WithResolvers = <T>() => { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void };
const P = Promise as unknown as { withResolvers?: WithResolvers };
const g = globalThis as { WebSocket?: unknown };
const original = { withResolvers: P.withResolvers, WebSocket: g.WebSocket };

afterEach(() => {
  Object.defineProperty(Promise, 'withResolvers', {
    value: original.withResolvers,
    configurable: true,
    writable: true,
  });
  Object.defineProperty(globalThis, 'WebSocket', {
    value: original.WebSocket,
    configurable: true,
    writable: true,
  });
});

describe('node-compat polyfills', () => {
  it('installs Promise.withResolvers when missing, and it resolves and rejects', async () => {
    delete P.withResolvers;
    expect(installNodePolyfills()).toContain('Promise.withResolvers');
    const ok = P.withResolvers!<number>();
    ok.resolve(42);
    await expect(ok.promise).resolves.toBe(42);
    const bad = P.withResolvers!<number>();
    bad.reject(new Error('nope'));
    await expect(bad.promise).rejects.toThrow('nope');
  });

  it('works when called detached from Promise', async () => {
    const r = withResolvers<string>();
    r.resolve('x');
    await expect(r.promise).resolves.toBe('x');
  });

  it('installs a global WebSocket class when missing', () => {
    delete g.WebSocket;
    expect(installNodePolyfills()).toContain('WebSocket');
    const WS = g.WebSocket as { OPEN?: number } | undefined;
    expect(typeof WS).toBe('function');
    expect(WS?.OPEN).toBe(1);
  });

  it('installs nothing when both are present', () => {
    installNodePolyfills();
    expect(installNodePolyfills()).toEqual([]);
  });
});
