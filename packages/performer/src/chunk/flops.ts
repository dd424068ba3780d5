/**
 * Matmul FLOPs per token of one exact gradient step, counted from the graphs the engine runs (2·m·n·k per
 * product, every batch; elementwise work not counted): the numerator of every GFLOP/s figure the
 * benchmarks report, for every model family and for LoRA (whose backward has no products for the frozen
 * weights' gradients) alike. One rule, read off the recorded nodes rather than a formula that must follow
 * every change to the layer body.
 *
 * A SLiM step runs, per chunk of C tokens, the states-only forward pass and one backward graph (which
 * recomputes the chunk); the full engine runs one backward graph over the whole sequence (C = L).
 */
import type { LoraConfig } from '@slimswarm/protocol';
import type { ModelConfig } from '../model/config.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { chunkGraphBuilder } from './graphs.js';

export function matmulFlops(b: GraphBuilder): number {
  let flops = 0;
  for (const node of b.nodes) {
    if (node.info.op !== 'MatMul' && node.info.op !== 'MatMulTransB') continue;
    const k = node.inputs[0]!.shape.at(-1)!;
    flops += 2 * k * node.output.shape.reduce((a, d) => a * d, 1);
  }
  return flops;
}

export function flopsPerTokenOfStep(
  config: ModelConfig,
  engine: 'slim-ort' | 'full-ort',
  chunk: number,
  lora?: LoraConfig,
): number {
  const graph = (kind: 'states' | 'subtract' | 'given') =>
    matmulFlops(chunkGraphBuilder(config, chunk, kind, lora));
  const perChunk = engine === 'slim-ort' ? graph('states') + graph('subtract') : graph('given');
  return perChunk / chunk;
}
