import { afterEach, describe, expect, it, vi } from 'vitest';
import { every, spreadFactor } from '../src/timed-spread.js';

const timings = { spreadAbove: 32, maxSpread: 16 };

describe('spreadFactor', () => {
  it('is 1 up to spreadAbove peers, then grows in proportion, capped at maxSpread', () => {
    expect(spreadFactor(0, timings)).toBe(1);
    expect(spreadFactor(32, timings)).toBe(1);
    expect(spreadFactor(128, timings)).toBe(4);
    expect(spreadFactor(100_000, timings)).toBe(16);
  });

  it('keeps what each peer takes in per base interval near spreadAbove, up to the cap', () => {
    for (const n of [8, 32, 64, 128, 512]) {
      const perBaseInterval = n / spreadFactor(n, timings);
      expect(perBaseInterval).toBeLessThanOrEqual(32);
    }
  });
});

describe('every', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the interval anew before each wait, and stops', () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    let interval = 100;
    const stop = every(
      () => runs.push(Date.now()),
      () => interval,
    );
    const t0 = Date.now();
    vi.advanceTimersByTime(250);
    expect(runs.map((t) => t - t0)).toEqual([100, 200]);
    interval = 400;
    vi.advanceTimersByTime(1_000);
    // The wait after the run at 200 was already 100 long; from the run at 300 on, 400.
    expect(runs.map((t) => t - t0)).toEqual([100, 200, 300, 700, 1100]);
    stop();
    vi.advanceTimersByTime(5_000);
    expect(runs).toHaveLength(5);
  });
});
