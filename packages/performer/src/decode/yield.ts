/**
 * Gives the event loop a turn. onnxruntime's wasm runs can resolve through microtasks alone, so a loop of
 * awaited runs would never let a message, a timer or an abort event in: a long generation would freeze
 * the page (or the engine thread's message port). A macrotask lets them in.
 */
export function nextMacrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const immediate = g.setImmediate;
    return new Promise((resolve) => void immediate(resolve));
  }
  if (typeof MessageChannel === 'function') {
    // Unlike setTimeout(0), a message is not clamped to 4 ms when nested.
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      // The browser's MessagePort (Node's, typed here, has setImmediate above and never gets this far).
      const port = channel.port1 as unknown as { onmessage: (() => void) | null; close(): void };
      port.onmessage = () => {
        port.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
