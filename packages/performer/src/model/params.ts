/**
 * Parameter names, shapes and initialisation. Matrices are stored [in, out] and applied as x @ W.
 *
 *   tok_emb                 [V, D]  token embedding, also the (tied) LM head: logits = ln_f(h) @ tok_embᵀ
 *   blocks.{i}.ln1.weight   [D]     pre-attention LayerNorm
 *   blocks.{i}.ln1.bias     [D]
 *   blocks.{i}.attn.wq      [D, D]  query projection (heads are contiguous groups of E columns)
 *   blocks.{i}.attn.wk      [D, D]
 *   blocks.{i}.attn.wv      [D, D]
 *   blocks.{i}.attn.wo      [D, D]  output projection (residual branch)
 *   blocks.{i}.ln2.weight   [D]     pre-MLP LayerNorm
 *   blocks.{i}.ln2.bias     [D]
 *   blocks.{i}.mlp.w1       [D, F]
 *   blocks.{i}.mlp.b1       [F]
 *   blocks.{i}.mlp.w2       [F, D]  (residual branch)
 *   blocks.{i}.mlp.b2       [D]
 *   ln_f.weight             [D]     final LayerNorm
 *   ln_f.bias               [D]
 */
import type { ModelConfig } from './config.js';
import { dimsOf } from './config.js';
import { Rng } from './random.js';

/** Named fp32 tensors (row-major). */
export type Params = Record<string, Float32Array>;

export function paramShapes(config: ModelConfig): Record<string, number[]> {
  const { d, v, f, n } = dimsOf(config);
  const shapes: Record<string, number[]> = { tok_emb: [v, d] };
  for (let i = 0; i < n; i++) {
    const p = `blocks.${i}`;
    shapes[`${p}.ln1.weight`] = [d];
    shapes[`${p}.ln1.bias`] = [d];
    shapes[`${p}.attn.wq`] = [d, d];
    shapes[`${p}.attn.wk`] = [d, d];
    shapes[`${p}.attn.wv`] = [d, d];
    shapes[`${p}.attn.wo`] = [d, d];
    shapes[`${p}.ln2.weight`] = [d];
    shapes[`${p}.ln2.bias`] = [d];
    shapes[`${p}.mlp.w1`] = [d, f];
    shapes[`${p}.mlp.b1`] = [f];
    shapes[`${p}.mlp.w2`] = [f, d];
    shapes[`${p}.mlp.b2`] = [d];
  }
  shapes['ln_f.weight'] = [d];
  shapes['ln_f.bias'] = [d];
  return shapes;
}

export function paramCount(config: ModelConfig): number {
  return Object.values(paramShapes(config)).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
}

const INIT_STD = 0.02;

/**
 * GPT-2 style init: N(0, 0.02) for matrices and the embedding, residual projections scaled by
 * 1/√(2N) so the residual stream's variance does not grow with depth; LayerNorm 1/0; biases 0.
 */
export function initParams(config: ModelConfig): Params {
  const rng = new Rng(config.seed, 'init');
  const residualStd = INIT_STD / Math.sqrt(2 * config.nLayers);
  const params: Params = {};
  for (const [name, shape] of Object.entries(paramShapes(config))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('.weight') && name.includes('ln')) data.fill(1);
    else if (shape.length === 2) {
      const std = name.endsWith('attn.wo') || name.endsWith('mlp.w2') ? residualStd : INIT_STD;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    }
    params[name] = data;
  }
  return params;
}

export function zerosLike(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float32Array(v.length)]));
}
