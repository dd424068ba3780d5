/**
 * The Secret Sharer's exposure (Carlini et al. 2019): how much better the model knows a secret it saw in
 * training than the other secrets of the same format. A canary — "my PIN is 4 8 1 9 3 7", its digits drawn
 * at random — is put k times into one volunteer's text; after training, the canary and m other random
 * secrets of its format are scored by the model's log-perplexity, and
 *
 *   exposure = log2(m + 1) − log2(rank of the canary among the m + 1, 1 = the likeliest).
 *
 * A model that learnt nothing of it ranks it anywhere (exposure ≈ 1 on average); log2(m + 1) is the most
 * this many candidates can show (the paper estimates larger values by extrapolation; we do not).
 */
import { Rng } from '@slimswarm/performer';

/** The canary's fixed format: a prefix, then `digits` digits separated by spaces. */
export interface CanaryFormat {
  prefix: string;
  digits: number;
}

export const PIN_CANARY: CanaryFormat = { prefix: 'my PIN is ', digits: 6 };

/** The secret of one canary, as the text it is written in. */
export function canaryText(format: CanaryFormat, secret: readonly number[]): string {
  return format.prefix + secret.join(' ');
}

/** `count` distinct random secrets of the format, none of them one of `except` (seeded). */
export function randomSecrets(
  format: CanaryFormat,
  count: number,
  seed: string,
  except: readonly (readonly number[])[] = [],
): number[][] {
  const space = 10 ** format.digits;
  if (count + except.length > space)
    throw new RangeError(`only ${space} secrets of ${format.digits} digits exist`);
  const rng = new Rng(0, seed);
  const seen = new Set<string>(except.map((e) => e.join('')));
  const out: number[][] = [];
  while (out.length < count) {
    const secret = Array.from({ length: format.digits }, () => rng.nextU32() % 10);
    const key = secret.join('');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(secret);
  }
  return out;
}

/** `text` with `line` (plus a newline) put in `k` times, each after a seeded random line break. */
export function insertCanary(text: string, line: string, k: number, seed: string): string {
  const rng = new Rng(0, seed);
  const lines = text.split('\n');
  for (let i = 0; i < k; i++) lines.splice(1 + (rng.nextU32() % lines.length), 0, line);
  return lines.join('\n');
}

/**
 * Sequences of exactly `length` bytes that end with each candidate's text after the same context (the
 * context's tail), so each one's loss differs from another's only in the candidate's own positions:
 * ranking by the mean loss ranks by the candidate's log-perplexity given the context.
 */
export function candidateSequences(
  context: string,
  candidates: readonly string[],
  length: number,
): Int32Array[] {
  const encoder = new TextEncoder();
  const ctx = encoder.encode(context);
  return candidates.map((candidate) => {
    const tail = encoder.encode(candidate);
    if (tail.length >= length || ctx.length + tail.length < length)
      throw new RangeError(`a candidate of ${tail.length} bytes does not fit after the context in ${length}`);
    const seq = new Int32Array(length);
    seq.set(ctx.subarray(ctx.length - (length - tail.length)), 0);
    seq.set(tail, length - tail.length);
    return seq;
  });
}

export interface Exposure {
  /** 1 = the model finds the canary likelier than every other candidate. */
  rank: number;
  /** m + 1. */
  candidates: number;
  exposure: number;
}

/**
 * Exposure of the canary (scores[0]) among the other candidates (scores[1..]): scores are losses, lower
 * is likelier; a tie counts half, so a model that scores all alike gives the middle rank.
 */
export function exposureOf(scores: readonly number[]): Exposure {
  const [canary, ...others] = scores;
  if (canary === undefined || others.length === 0)
    throw new RangeError('need the canary and other candidates');
  let better = 0;
  for (const s of others) better += s < canary ? 1 : s === canary ? 0.5 : 0;
  const rank = 1 + better;
  return { rank, candidates: scores.length, exposure: Math.log2(scores.length) - Math.log2(rank) };
}
