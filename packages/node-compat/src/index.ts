/**
 * Node 20 lacks two things libp2p 3 relies on: `Promise.withResolvers` (used by @libp2p/utils, yamux,
 * ping, it-queue) and a global `WebSocket` (used to dial /ws addresses). Import this module first in every
 * Node entry point; it is a no-op where the runtime already has both.
 */
import { WebSocket as WsWebSocket } from 'ws';

export interface PromiseWithResolversResult<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

/** Spec-shaped `Promise.withResolvers`, installed only when missing. */
export function withResolvers<T>(this: PromiseConstructor | void): PromiseWithResolversResult<T> {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (reason?: unknown) => void;
  const Ctor = (typeof this === 'function' ? this : Promise) as PromiseConstructor;
  const promise = new Ctor<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Installs the polyfills that are missing; returns the names it installed. */
export function installNodePolyfills(): string[] {
  const installed: string[] = [];
  const P = Promise as PromiseConstructor & { withResolvers?: unknown };
  if (typeof P.withResolvers !== 'function') {
    Object.defineProperty(Promise, 'withResolvers', {
      value: withResolvers,
      writable: true,
      configurable: true,
    });
    installed.push('Promise.withResolvers');
  }
  const g = globalThis as { WebSocket?: unknown };
  if (typeof g.WebSocket !== 'function') {
    Object.defineProperty(globalThis, 'WebSocket', {
      value: WsWebSocket,
      writable: true,
      configurable: true,
    });
    installed.push('WebSocket');
  }
  return installed;
}

export const installedPolyfills: readonly string[] = installNodePolyfills();
