/**
 * The softmax-attention reference on every model family: equal to an independent, deliberately plain
 * implementation written here (nested arrays, per position and head, HF's repeat_kv head mapping, scores
 * q·k/√E), different from FAVOR+ at few features and approached by it as the features grow.
 */
import { describe, expect, it } from 'vitest';
import { ModelConfig } from '@slimswarm/protocol';
import { drawFeatures } from '../src/model/features.js';
import { Rng } from '../src/model/random.js';
import { erf, naiveLogits, softmaxAttentionLogits, softmaxAttentionLoss } from '../src/naive/index.js';
import type { Params64 } from '../src/naive/index.js';
import { liveParams } from './decode-fixtures.js';
import { FAMILY_CONFIGS, FAMILY_NAMES } from './family-fixtures.js';

const SHRINK = 0.5;
const families = FAMILY_NAMES.map((name) => [name, FAMILY_CONFIGS[name]] as const);

function lively(config: ModelConfig, label: string): Params64 {
  return Object.fromEntries(
    Object.entries(liveParams(config, label)).map(([name, t]) => [name, Float64Array.from(t)]),
  );
}

function randomTokens(n: number, vocab: number, label: string): Int32Array {
  const rng = new Rng(1, label);
  return Int32Array.from({ length: n }, () => rng.nextU32() % vocab);
}

/** Row r of a row-major [rows, cols] tensor. */
function row(t: Float64Array, r: number, cols: number): number[] {
  return Array.from(t.subarray(r * cols, (r + 1) * cols));
}

/** x @ W + b with W stored [in, out]. */
function linear(x: number[], w: Float64Array, b: Float64Array | undefined): number[] {
  const width = w.length / x.length;
  return Array.from({ length: width }, (_, j) => {
    let sum = b?.[j] ?? 0;
    for (let i = 0; i < x.length; i++) sum += x[i]! * w[i * width + j]!;
    return sum;
  });
}

/** Logits [L][V] of the model with exact causal softmax attention, written from the HF definitions. */
function plainSoftmaxModel(config: ModelConfig, p: Params64, tokens: Int32Array): number[][] {
  const D = config.dModel;
  const H = config.nHeads;
  const K = config.nKvHeads ?? H;
  const E = D / H;
  const L = tokens.length;
  const norm = (x: number[], prefix: string): number[] => {
    const w = p[`${prefix}.weight`]!;
    if (config.norm === 'rmsnorm') {
      const ms = x.reduce((s, a) => s + a * a, 0) / D;
      return x.map((a, i) => (a / Math.sqrt(ms + config.normEps)) * w[i]!);
    }
    const mu = x.reduce((s, a) => s + a, 0) / D;
    const variance = x.reduce((s, a) => s + (a - mu) ** 2, 0) / D;
    const b = p[`${prefix}.bias`]!;
    return x.map((a, i) => ((a - mu) / Math.sqrt(variance + config.normEps)) * w[i]! + b[i]!);
  };
  /** Our pair layout: (x_2i, x_2i+1) of a head turns by angle t / base^(2i/E). */
  const rotate = (head: number[], t: number): number[] => {
    if (config.positions !== 'rope') return head;
    const out = [...head];
    for (let i = 0; i < E / 2; i++) {
      const angle = t / config.ropeBase ** ((2 * i) / E);
      const [a, b] = [head[2 * i]!, head[2 * i + 1]!];
      out[2 * i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[2 * i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
    }
    return out;
  };
  const act = (x: number): number =>
    config.mlp === 'gelu-tanh'
      ? 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))
      : 0.5 * x * (1 + erf(x / Math.SQRT2));

  let h: number[][] = Array.from({ length: L }, (_, t) => {
    const x = row(p.tok_emb!, tokens[t]!, D);
    return config.positions === 'learned' ? x.map((a, i) => a + p.pos_emb![t * D + i]!) : x;
  });
  for (let layer = 0; layer < config.nLayers; layer++) {
    const w = (name: string): Float64Array => p[`blocks.${layer}.${name}`]!;
    const b = (name: string): Float64Array | undefined => p[`blocks.${layer}.${name}`];
    const a = h.map((x) => norm(x, `blocks.${layer}.ln1`));
    const q = a.map((x) => linear(x, w('attn.wq'), b('attn.bq')));
    const k = a.map((x) => linear(x, w('attn.wk'), b('attn.bk')));
    const v = a.map((x) => linear(x, w('attn.wv'), b('attn.bv')));
    const attn: number[][] = Array.from({ length: L }, () => new Array<number>(D).fill(0));
    for (let t = 0; t < L; t++) {
      for (let head = 0; head < H; head++) {
        const kvHead = Math.floor(head / (H / K)); // repeat_kv: each kv head serves H/K consecutive heads
        const qh = rotate(q[t]!.slice(head * E, (head + 1) * E), t);
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          const ks = rotate(k[s]!.slice(kvHead * E, (kvHead + 1) * E), s);
          scores.push(qh.reduce((sum, x, i) => sum + x * ks[i]!, 0) / Math.sqrt(E));
        }
        const top = Math.max(...scores);
        const weights = scores.map((x) => Math.exp(x - top));
        const total = weights.reduce((x, y) => x + y, 0);
        for (let s = 0; s <= t; s++)
          for (let i = 0; i < E; i++)
            attn[t]![head * E + i]! += (weights[s]! / total) * v[s]![kvHead * E + i]!;
      }
    }
    const mid = h.map((x, t) => linear(attn[t]!, w('attn.wo'), b('attn.bo')).map((y, i) => y + x[i]!));
    h = mid.map((x) => {
      const m = norm(x, `blocks.${layer}.ln2`);
      const up = linear(m, w('mlp.w1'), b('mlp.b1'));
      const hidden =
        config.mlp === 'swiglu'
          ? linear(m, w('mlp.wg'), b('mlp.bg')).map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!)
          : up.map(act);
      return linear(hidden, w('mlp.w2'), b('mlp.b2')).map((y, i) => y + x[i]!);
    });
  }
  return h.map((x) => {
    const f = norm(x, 'ln_f');
    if (!config.tiedHead) return linear(f, p.lm_head!, undefined);
    return Array.from({ length: config.vocabSize }, (_, c) =>
      f.reduce((sum, a, i) => sum + a * p.tok_emb![c * D + i]!, 0),
    );
  });
}

/** Mean over positions of KL(softmax row of `teacher` ‖ softmax row of `student`). */
function meanKl(teacher: Float64Array, student: Float64Array, vocab: number): number {
  const rows = teacher.length / vocab;
  let total = 0;
  for (let t = 0; t < rows; t++) {
    const logZ = (x: Float64Array): number => {
      const r = x.subarray(t * vocab, (t + 1) * vocab);
      const top = Math.max(...r);
      return top + Math.log(r.reduce((s, a) => s + Math.exp(a - top), 0));
    };
    const [zt, zs] = [logZ(teacher), logZ(student)];
    for (let c = 0; c < vocab; c++) {
      const lt = teacher[t * vocab + c]! - zt;
      total += Math.exp(lt) * (lt - (student[t * vocab + c]! - zs));
    }
  }
  return total / rows;
}

describe.each(families)('the softmax-attention reference, %s', (_, config) => {
  const params = lively(config, 'test/softmax');

  it.each([1, 11])('equals the plain per-head loop implementation to 1e-12 (L = %i)', (L) => {
    const tokens = randomTokens(L, config.vocabSize, `softmax-${L}`);
    const got = softmaxAttentionLogits(config, params, tokens); // (L, V)
    const want = plainSoftmaxModel(config, params, tokens);
    const v = config.vocabSize;
    expect(got).toHaveLength(L * v);
    let worst = 0;
    let largest = 0;
    for (let t = 0; t < L; t++)
      for (let c = 0; c < v; c++) {
        worst = Math.max(worst, Math.abs(got[t * v + c]! - want[t]![c]!));
        largest = Math.max(largest, Math.abs(want[t]![c]!));
      }
    expect(worst).toBeLessThanOrEqual(1e-12 * Math.max(1, largest));
    expect(largest).toBeGreaterThan(0.1); // the logits are not all near zero
  });

  it('gives the mean cross-entropy of its logits', () => {
    const tokens = randomTokens(12, config.vocabSize, 'softmax-loss');
    const logits = plainSoftmaxModel(config, params, tokens.subarray(0, 11));
    const want =
      logits.reduce((sum, r, t) => {
        const top = Math.max(...r);
        const logZ = top + Math.log(r.reduce((s, a) => s + Math.exp(a - top), 0));
        return sum + logZ - r[tokens[t + 1]!]!;
      }, 0) / 11;
    expect(softmaxAttentionLoss(config, params, tokens)).toBeCloseTo(want, 12);
  });

  it('differs from FAVOR+ at few features, which approaches it as the features grow', () => {
    // FAVOR+'s relative variance grows like exp(|q + k|²): with the live weights' large queries and keys
    // even M = 4096 stays noisy, so this check shrinks wq and wk (attention is still far from uniform).
    const calm = { ...params };
    for (const name of Object.keys(calm))
      if (/attn\.w[qk]$/.test(name)) calm[name] = calm[name]!.map((x) => x * SHRINK);
    const tokens = randomTokens(16, config.vocabSize, 'softmax-favor');
    const teacher = softmaxAttentionLogits(config, calm, tokens);
    const kl = [4, 64, 1024].map((m) => {
      const withM = ModelConfig.parse({ ...config, nFeatures: m });
      return meanKl(teacher, naiveLogits(withM, calm, tokens, drawFeatures(withM)), config.vocabSize);
    });
    expect(kl[0]).toBeGreaterThan(1e-4);
    expect(kl[1]).toBeLessThan(kl[0]!);
    expect(kl[2]).toBeLessThan(kl[1]!);
    expect(kl[2]).toBeLessThan(kl[0]! / 10); // measured: 25 to 130 times smaller
  });
});

describe('the softmax-attention reference refuses bad inputs with typed errors', () => {
  const config = FAMILY_CONFIGS.llama;
  const params = lively(config, 'test/softmax');

  it('missing or misshapen parameters, bad ids, empty and too-short sequences', () => {
    const { lm_head: _dropped, ...missing } = params;
    expect(() => softmaxAttentionLogits(config, missing, Int32Array.of(1))).toThrow(
      expect.objectContaining({ name: 'ParamShapeError', param: 'lm_head' }),
    );
    const short = { ...params, 'blocks.1.attn.wk': new Float64Array(3) };
    expect(() => softmaxAttentionLogits(config, short, Int32Array.of(1))).toThrow(
      expect.objectContaining({ name: 'ParamShapeError' }),
    );
    expect(() => softmaxAttentionLogits(config, params, Int32Array.of(1, config.vocabSize))).toThrow(
      expect.objectContaining({ name: 'TokenOutOfRangeError' }),
    );
    expect(() => softmaxAttentionLogits(config, params, new Int32Array(0))).toThrow(
      expect.objectContaining({ name: 'InvalidTokensError' }),
    );
    expect(() => softmaxAttentionLoss(config, params, Int32Array.of(1))).toThrow(
      expect.objectContaining({ name: 'SequenceTooShortError' }),
    );
  });
});
