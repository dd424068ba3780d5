/**
 * Parameter names, shapes and initialisation for every model family. Matrices are stored [in, out] and
 * applied as x @ W (importers transpose Hugging Face's [out, in] Linear weights). Legend in config.ts.
 *
 *   tok_emb                 [V, D]   token embedding; with tiedHead also the LM head (logits = norm(h) @ tok_embᵀ)
 *   pos_emb                 [P, D]   learned absolute positions (positions: 'learned'), added to tok_emb rows
 *   blocks.{i}.ln1.weight   [D]      pre-attention norm
 *   blocks.{i}.ln1.bias     [D]      (layernorm only)
 *   blocks.{i}.attn.wq      [D, D]   query projection (heads are contiguous groups of E columns)
 *   blocks.{i}.attn.wk      [D, K·E] key projection (K = H without grouped-query attention)
 *   blocks.{i}.attn.wv      [D, K·E]
 *   blocks.{i}.attn.bq      [D]      (bias.qkv) and bk, bv [K·E]
 *   blocks.{i}.attn.wo      [D, D]   output projection (residual branch)
 *   blocks.{i}.attn.bo      [D]      (bias.attnOut)
 *   blocks.{i}.ln2.weight   [D]      pre-MLP norm
 *   blocks.{i}.ln2.bias     [D]      (layernorm only)
 *   blocks.{i}.mlp.wg       [D, F]   gate (swiglu only): down(silu(x @ wg) ⊙ (x @ w1))
 *   blocks.{i}.mlp.w1       [D, F]   up
 *   blocks.{i}.mlp.w2       [F, D]   down (residual branch)
 *   blocks.{i}.mlp.bg       [F]      (bias.mlp, swiglu), b1 [F] and b2 [D] (bias.mlp)
 *   ln_f.weight             [D]      final norm
 *   ln_f.bias               [D]      (layernorm only)
 *   lm_head                 [D, V]   (untied head only)
 */
import type { ModelConfig } from './config.js';
import { dimsOf } from './config.js';
import { Rng } from './random.js';

/** Named fp32 tensors (row-major). */
export type Params = Record<string, Float32Array>;

export function paramShapes(config: ModelConfig): Record<string, number[]> {
  const { d, v, f, n, kv, e } = dimsOf(config);
  const dkv = kv * e;
  const layerNorm = config.norm === 'layernorm';
  const shapes: Record<string, number[]> = { tok_emb: [v, d] };
  if (config.positions === 'learned') shapes['pos_emb'] = [config.maxPositions!, d];
  const norm = (prefix: string): void => {
    shapes[`${prefix}.weight`] = [d];
    if (layerNorm) shapes[`${prefix}.bias`] = [d];
  };
  for (let i = 0; i < n; i++) {
    const p = `blocks.${i}`;
    norm(`${p}.ln1`);
    shapes[`${p}.attn.wq`] = [d, d];
    shapes[`${p}.attn.wk`] = [d, dkv];
    shapes[`${p}.attn.wv`] = [d, dkv];
    if (config.bias.qkv) {
      shapes[`${p}.attn.bq`] = [d];
      shapes[`${p}.attn.bk`] = [dkv];
      shapes[`${p}.attn.bv`] = [dkv];
    }
    shapes[`${p}.attn.wo`] = [d, d];
    if (config.bias.attnOut) shapes[`${p}.attn.bo`] = [d];
    norm(`${p}.ln2`);
    const mlpBias = config.bias.mlp;
    if (config.mlp === 'swiglu') {
      shapes[`${p}.mlp.wg`] = [d, f];
      if (mlpBias) shapes[`${p}.mlp.bg`] = [f];
    }
    shapes[`${p}.mlp.w1`] = [d, f];
    if (mlpBias) shapes[`${p}.mlp.b1`] = [f];
    shapes[`${p}.mlp.w2`] = [f, d];
    if (mlpBias) shapes[`${p}.mlp.b2`] = [d];
  }
  norm('ln_f');
  if (!config.tiedHead) shapes['lm_head'] = [d, v];
  return shapes;
}

export function paramCount(config: ModelConfig): number {
  return Object.values(paramShapes(config)).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
}

const INIT_STD = 0.02;

/**
 * GPT-2 style init: N(0, 0.02) for matrices and the embeddings, residual projections scaled by
 * 1/√(2N) so the residual stream's variance does not grow with depth; norm weights 1; biases 0.
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
