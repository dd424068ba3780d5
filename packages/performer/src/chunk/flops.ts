// Legend: C chunk, D model, H query heads, K key/value heads, E head size, M random features, V vocab,
// N layers.
/**
 * Matmul FLOPs per token of one exact gradient step (2·m·n·k per product; elementwise work not counted),
 * the numerator of every GFLOP/s figure the benchmarks report. One rule, so the engine's rate and the
 * ceiling it is compared with count the same thing.
 *
 * forward(C): the loss graph of a chunk of C tokens (its within-chunk score matrices make it depend on C).
 * A backward graph costs 3 forwards (the recompute, and two products per product), so the full engine's
 * step is 3·forward(L); a SLiM step adds the states-only pass, which stops at the last layer's keys and
 * values: 3·forward(C) + states.
 */
import type { ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';

export function flopsPerTokenOfStep(
  config: ModelConfig,
  engine: 'slim-ort' | 'full-ort',
  chunk: number,
): number {
  const { d, h, kv, e, m, v, f, n } = dimsOf(config);
  const rotations = config.positions === 'rope' ? 2 * e * e : 0; // RoPE as a pair-rotation product
  const mlpMatrices = config.mlp === 'swiglu' ? 3 : 2;
  const keysValues =
    2 * 2 * d * kv * e + // k and v projections
    kv * rotations + // RoPE of k
    kv * 2 * e * m + // key feature logits
    kv * 2 * m * (e + 1); // the chunk's contribution Φkᵀ [V, 1]
  const queriesOutput =
    2 * 2 * d * d + // q and o projections
    h * rotations + // RoPE of q
    h * 2 * e * m + // query feature logits
    h * 2 * chunk * m + // Φq Φkᵀ within the chunk
    h * 2 * chunk * (e + 1) + // scores @ [V, 1]
    h * 2 * m * (e + 1) + // Φq S_in
    mlpMatrices * 2 * d * f; // MLP
  // The embedding is a Gather (its gradient a scatter-add): no product. The head is one.
  const head = 2 * v * d;
  const forward = n * (keysValues + queriesOutput) + head;
  const states = n * keysValues + (n - 1) * queriesOutput;
  return engine === 'slim-ort' ? 3 * forward + states : 3 * forward;
}
