// Legend: V vocab.
/**
 * Next-token sampling: temperature (0 = greedy), top-k, then top-p (nucleus), in that order (as Hugging
 * Face transformers applies them), drawn with the seeded Rng so that the same seed and logits give the
 * same tokens on every machine. `samplingDistribution` is the exact distribution `Sampler.next` draws
 * from, so tests can check the truncation and the draws separately.
 */
import { z } from 'zod';
import { Rng } from '../model/random.js';
import { InvalidLogitsError, InvalidSampleOptionsError } from './errors.js';

export const SampleOptions = z
  .object({
    /** Logits are divided by it; 0 picks the most likely token (ties: the lowest id). */
    temperature: z.number().finite().min(0).max(1000).default(1),
    /** Keep only the k most likely tokens; 0 keeps all. */
    topK: z.number().int().min(0).default(0),
    /** Keep the smallest set of most likely tokens whose probability reaches p (after top-k); 1 keeps all. */
    topP: z.number().finite().gt(0).max(1).default(1),
    /** Seeds the draws: equal seeds, equal tokens. */
    seed: z.number().int().min(0).max(0xffff_ffff).default(0),
    /** Tokens to generate at most. */
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 24)
      .default(256),
    /** Generation ends after emitting any of these ids (it is emitted). */
    stopTokens: z.array(z.number().int().min(0)).max(1024).default([]),
  })
  .strict();
export type SampleOptions = z.input<typeof SampleOptions>;
export type ResolvedSampleOptions = z.output<typeof SampleOptions>;

export function parseSampleOptions(opts: unknown): ResolvedSampleOptions {
  const parsed = SampleOptions.safeParse(opts ?? {});
  if (!parsed.success) throw new InvalidSampleOptionsError(z.prettifyError(parsed.error));
  return parsed.data;
}

type Truncation = Pick<ResolvedSampleOptions, 'temperature' | 'topK' | 'topP'>;

/**
 * Scratch buffers of one vocabulary size, reused for every token so that sampling allocates nothing per
 * token (the decoder's memory per token stays flat).
 */
class Workspace {
  readonly probs: Float64Array; // (V) the distribution, 0 outside the kept set
  readonly order: Int32Array; // (V) token ids by decreasing logit
  constructor(readonly vocab: number) {
    this.probs = new Float64Array(vocab);
    this.order = new Int32Array(vocab);
  }

  /** Fills `probs`; returns how many ids (order[0, kept)) are kept, or −1 for a greedy pick in order[0]. */
  fill(logits: ArrayLike<number>, opts: Truncation): number {
    const v = this.vocab;
    if (logits.length !== v) throw new InvalidLogitsError(`expected ${v} logits, got ${logits.length}`);
    let best = 0;
    for (let i = 0; i < v; i++) {
      const x = logits[i]!;
      if (!Number.isFinite(x)) throw new InvalidLogitsError(`logit ${i} is ${x}`);
      if (x > logits[best]!) best = i;
    }
    this.probs.fill(0);
    if (opts.temperature === 0 || opts.topK === 1) {
      this.order[0] = best;
      this.probs[best] = 1;
      return -1;
    }
    let kept = v;
    const order = this.order;
    for (let i = 0; i < v; i++) order[i] = i;
    if (opts.topK > 0 || opts.topP < 1) {
      // Ties keep the lower id first, so the kept set never depends on the sort's stability.
      order.sort((a, b) => logits[b]! - logits[a]! || a - b);
      if (opts.topK > 0) kept = Math.min(kept, opts.topK);
    }
    const top = logits[best]!; // subtracted so that exp never overflows
    let sum = 0;
    for (let r = 0; r < kept; r++) {
      const id = order[r]!;
      const p = Math.exp((logits[id]! - top) / opts.temperature);
      this.probs[id] = p;
      sum += p;
    }
    if (opts.topP < 1) {
      // The smallest prefix (by decreasing probability) whose mass reaches topP; always at least one id.
      let mass = 0;
      let r = 0;
      while (r < kept) {
        mass += this.probs[order[r]!]! / sum;
        r++;
        if (mass >= opts.topP) break;
      }
      for (let drop = r; drop < kept; drop++) this.probs[order[drop]!] = 0;
      kept = r;
      sum = 0;
      for (let q = 0; q < kept; q++) sum += this.probs[order[q]!]!;
    }
    for (let r = 0; r < kept; r++) this.probs[order[r]!]! /= sum;
    return kept;
  }
}

/**
 * The distribution (V) that sampling with these options draws from: temperature-scaled softmax restricted
 * to the top-k, then to the nucleus, renormalised; one-hot on the argmax for temperature 0.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  opts: Partial<Truncation> = {},
): Float64Array {
  const resolved = parseSampleOptions(opts);
  const work = new Workspace(logits.length);
  work.fill(logits, resolved);
  return Float64Array.from(work.probs);
}

/** Draws token ids from logits, one call per token, deterministic for a seed. */
export class Sampler {
  readonly options: ResolvedSampleOptions;
  private readonly rng: Rng;
  private work: Workspace | null = null;

  constructor(opts: SampleOptions = {}) {
    this.options = parseSampleOptions(opts);
    this.rng = new Rng(this.options.seed, 'sample');
  }

  next(logits: ArrayLike<number>): number {
    if (this.work?.vocab !== logits.length) this.work = new Workspace(logits.length);
    const work = this.work;
    const kept = work.fill(logits, this.options);
    if (kept < 0) return work.order[0]!;
    // Inverse CDF over the kept ids in decreasing order; rounding can leave u past the total, then the
    // last kept id is the answer.
    const u = this.rng.uniform();
    let cumulative = 0;
    for (let r = 0; r < kept; r++) {
      const id = work.order[r]!;
      cumulative += work.probs[id]!;
      if (u < cumulative) return id;
    }
    return work.order[kept - 1]!;
  }
}
