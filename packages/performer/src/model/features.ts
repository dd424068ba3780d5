/**
 * FAVOR+ positive orthogonal random features (Choromanski et al. 2021), one projection ω per layer
 * shared by its heads, derived from (seed, layer, redraw epoch) so every peer holds the same ω without
 * sending it.
 *
 *   key   φ(k)_j = exp(ω_j·k − |k|²/2 − s_layer) / √M,  s_layer = max_j |ω_j|²/2           (constant)
 *   query φ(q)_j = exp(ω_j·q − |q|²/2 − sg(max_j' ω_j'·q − |q|²/2)) / √M                   (per token)
 *
 * Why these stabilisers: every key that enters one prefix-sum state must share its stabiliser, and it may
 * not depend on future tokens, or the chunked result would differ from the one-pass result (a max over the
 * whole sequence, as in Google's JAX code, breaks causality). Since ω·k − |k|²/2 ≤ |ω|²/2 for every k,
 * the constant s_layer bounds φ(k) ≤ 1/√M with no look at the data at all: no overflow ever. The query
 * stabiliser only depends on the query's own token and cancels between numerator and denominator; it is
 * treated as a constant in the backward pass (sg = stop-gradient), as every FAVOR+ implementation does.
 *
 * Redraw policy (ModelConfig.featureRedraw): 'never' keeps epoch 0; 'every-steps' uses epoch
 * floor(step / steps). A new ω changes the function, so attention states restart (they never outlive a
 * training sequence anyway).
 */
import type { ModelConfig } from './config.js';
import { dimsOf } from './config.js';
import { Rng } from './random.js';

export interface LayerFeatures {
  /** ω, [M, E] row-major: row j is the j-th random direction. */
  omega: Float32Array;
  /** s_layer = max_j |ω_j|² / 2 (computed in fp64 from the fp32 ω, then used as a number). */
  keyStabiliser: number;
}

export function featureEpoch(config: ModelConfig, step: number): number {
  return config.featureRedraw.kind === 'never' ? 0 : Math.floor(step / config.featureRedraw.steps);
}

/** ω for every layer at the given redraw epoch. */
export function drawFeatures(config: ModelConfig, epoch = 0): LayerFeatures[] {
  const { e, m, n } = dimsOf(config);
  return Array.from({ length: n }, (_, layer) => {
    const rng = new Rng(config.seed, `favor/layer${layer}/epoch${epoch}`);
    const omega = orthogonalGaussian(rng, m, e);
    let maxSq = 0;
    for (let j = 0; j < m; j++) {
      let sq = 0;
      for (let c = 0; c < e; c++) sq += (omega[j * e + c] ?? 0) ** 2;
      maxSq = Math.max(maxSq, sq);
    }
    return { omega, keyStabiliser: maxSq / 2 };
  });
}

/**
 * M rows of dimension E: blocks of E mutually orthogonal directions (Gram–Schmidt on Gaussian rows), each
 * row rescaled to the norm of an independent Gaussian vector (chi(E)), so every row is marginally N(0, I)
 * as the unbiased softmax-kernel estimator requires, while rows within a block stay orthogonal.
 */
function orthogonalGaussian(rng: Rng, rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let start = 0; start < rows; start += dim) {
    const block: Float64Array[] = [];
    for (let r = 0; r < dim; r++) {
      const v = Float64Array.from({ length: dim }, () => rng.normal());
      for (const u of block) {
        let dot = 0;
        for (let c = 0; c < dim; c++) dot += (v[c] ?? 0) * (u[c] ?? 0);
        for (let c = 0; c < dim; c++) v[c] = (v[c] ?? 0) - dot * (u[c] ?? 0);
      }
      const norm = Math.hypot(...v);
      for (let c = 0; c < dim; c++) v[c] = (v[c] ?? 0) / norm;
      block.push(v);
    }
    for (let r = 0; r < dim && start + r < rows; r++) {
      let chiSq = 0;
      for (let c = 0; c < dim; c++) chiSq += rng.normal() ** 2;
      const scale = Math.sqrt(chiSq);
      const row = block[r]!;
      for (let c = 0; c < dim; c++) out[(start + r) * dim + c] = (row[c] ?? 0) * scale;
    }
  }
  return out;
}
