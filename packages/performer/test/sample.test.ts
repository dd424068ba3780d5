/**
 * Sampling: the distribution drawn from (temperature, top-k, top-p truncation), that draws follow it, and
 * that a seed fixes them.
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidLogitsError,
  InvalidSampleOptionsError,
  Sampler,
  samplingDistribution,
} from '../src/decode/index.js';
import { Rng } from '../src/model/random.js';

const logits = Float64Array.of(1.5, -0.5, 3, 0.2, 3, -2, 0.9, 2.1, -1, 0.4, 1.1); // ties at ids 2 and 4

function softmax(x: ArrayLike<number>, temperature = 1): Float64Array {
  const max = Math.max(...Array.from(x));
  const e = Float64Array.from(x, (v) => Math.exp((v - max) / temperature));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const sum = (x: Float64Array): number => x.reduce((a, b) => a + b, 0);
const kept = (x: Float64Array): number[] => [...x.keys()].filter((i) => x[i]! > 0);

describe('samplingDistribution', () => {
  it('is the temperature-scaled softmax when nothing is truncated', () => {
    for (const temperature of [0.3, 1, 2.5]) {
      const got = samplingDistribution(logits, { temperature });
      const want = softmax(logits, temperature);
      got.forEach((p, i) => expect(p).toBeCloseTo(want[i]!, 14));
    }
    // A very high temperature flattens it towards uniform.
    const hot = samplingDistribution(logits, { temperature: 1000 });
    for (const p of hot) expect(Math.abs(p - 1 / logits.length)).toBeLessThan(1e-3);
  });

  it('temperature 0 and top-k 1 are greedy, ties going to the lowest id', () => {
    expect(kept(samplingDistribution(logits, { temperature: 0 }))).toEqual([2]);
    expect(kept(samplingDistribution(logits, { topK: 1 }))).toEqual([2]);
  });

  it('top-k keeps exactly the k most likely ids, renormalised in proportion', () => {
    const full = softmax(logits);
    for (const k of [2, 3, 5, 11, 50]) {
      const got = samplingDistribution(logits, { topK: k });
      const order = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);
      expect(kept(got).sort((a, b) => a - b)).toEqual(order.slice(0, k).sort((a, b) => a - b));
      expect(sum(got)).toBeCloseTo(1, 14);
      const mass = order.slice(0, k).reduce((s, i) => s + full[i]!, 0);
      for (const i of kept(got)) expect(got[i]!).toBeCloseTo(full[i]! / mass, 14);
    }
  });

  it('top-p keeps the smallest most-likely prefix whose mass reaches p', () => {
    const full = softmax(logits);
    const order = [...logits.keys()].sort((a, b) => full[b]! - full[a]! || a - b);
    for (const p of [0.05, 0.3, 0.5, 0.8, 0.95, 0.999]) {
      const got = samplingDistribution(logits, { topP: p });
      const ids = kept(got);
      const mass = ids.reduce((s, i) => s + full[i]!, 0);
      expect(mass).toBeGreaterThanOrEqual(p - 1e-12);
      // Minimal: dropping the least likely kept id falls short of p.
      const least = order[ids.length - 1]!;
      expect(mass - full[least]!).toBeLessThan(p);
      expect(new Set(ids)).toEqual(new Set(order.slice(0, ids.length)));
      expect(sum(got)).toBeCloseTo(1, 14);
    }
  });

  it('top-k applies before top-p (the nucleus of the renormalised top-k)', () => {
    const got = samplingDistribution(logits, { topK: 3, topP: 0.7 });
    const top3 = samplingDistribution(logits, { topK: 3 });
    const order = [2, 4, 7];
    let mass = 0;
    let n = 0;
    while (mass < 0.7) mass += top3[order[n++]!]!;
    expect(kept(got).length).toBe(n);
  });
});

describe('Sampler', () => {
  it('draws follow the distribution (20 000 draws, every configuration)', () => {
    for (const opts of [
      {},
      { temperature: 0.7 },
      { topK: 4 },
      { topP: 0.8 },
      { temperature: 1.3, topK: 6, topP: 0.9 },
    ]) {
      const want = samplingDistribution(logits, opts);
      const sampler = new Sampler({ ...opts, seed: 17 });
      const counts = new Float64Array(logits.length);
      const draws = 20_000;
      for (let i = 0; i < draws; i++) counts[sampler.next(logits)]! += 1;
      counts.forEach((c, i) => {
        // 4.5 standard deviations of a binomial proportion: a wrong distribution fails, noise does not.
        const sd = Math.sqrt((want[i]! * (1 - want[i]!)) / draws);
        expect(Math.abs(c / draws - want[i]!)).toBeLessThanOrEqual(4.5 * sd + 1e-12);
        if (want[i] === 0) expect(c).toBe(0);
      });
    }
  });

  it('a seed fixes the draws; another seed gives others', () => {
    const rng = new Rng(5, 'logits');
    const steps = Array.from({ length: 200 }, () =>
      Float64Array.from({ length: 23 }, () => 2 * rng.normal()),
    );
    const run = (seed: number) => {
      const s = new Sampler({ seed, topK: 10, topP: 0.95, temperature: 0.9 });
      return steps.map((l) => s.next(l));
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  it('refuses bad options and bad logits with typed errors', () => {
    for (const bad of [
      { temperature: -1 },
      { topP: 0 },
      { topP: 1.5 },
      { topK: 1.5 },
      { seed: -1 },
      { maxTokens: 0 },
      { nope: 1 },
    ]) {
      expect(() => new Sampler(bad as never)).toThrow(InvalidSampleOptionsError);
    }
    const sampler = new Sampler();
    expect(sampler.next(logits)).toBeGreaterThanOrEqual(0);
    expect(() => sampler.next(Float64Array.of(1, Number.NaN, 0))).toThrow(InvalidLogitsError);
    expect(() => sampler.next(Float64Array.of(1, Number.POSITIVE_INFINITY))).toThrow(InvalidLogitsError);
    try {
      new Sampler({ topP: 2 });
    } catch (err) {
      expect((err as Error).name).toBe('InvalidSampleOptionsError');
    }
  });
});
