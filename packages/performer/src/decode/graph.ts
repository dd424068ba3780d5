// Legend: N layers, K key/value heads, E head size, M random features, V vocab, P learned positions.
/**
 * The decoder's one-token step graph, self-contained: the weights and ω are embedded as initializers and
 * the position is an input (RoPE's cos/sin computed from it in the graph in double, or the pos_emb row
 * it indexes), so plain onnxruntime (Node, web or Python) can run it with nothing but standard ONNX ops
 * at OPSET:
 *
 *   inputs   token     [1] int32                 the token fed at this step
 *            position  [1] int32                 its absolute position (0 for the first token; < P for
 *                                                 learned positions)
 *            state     [N, K, M, E + 1] float32  per layer and key/value head S (M × E) with z as column
 *                                                 E; zeros before the first token
 *   outputs  logits    [1, V] float32            next-token logits after this token
 *            stateOut  [N, K, M, E + 1] float32  the state to feed with the next token
 *
 * The layer body is chunk/layers.ts, the same definition the training graphs use.
 */
import type { ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import { checkModelInputs } from '../model/inputs.js';
import { paramShapes } from '../model/params.js';
import type { Params } from '../model/params.js';
import type { Value } from '../onnx/graph.js';
import { GraphBuilder, OPSET } from '../onnx/graph.js';
import type { ModelSource, Rows } from '../chunk/layers.js';
import { embed, layerKeysValues, layerMix, lmHead, positionsFrom } from '../chunk/layers.js';
import { stateShape } from '../chunk/graphs.js';

/** One input or output of the step graph, as config.json describes it. */
export interface StepGraphValue {
  name: string;
  dtype: 'int32' | 'float32';
  shape: number[];
  description: string;
}

/** Names, types and shapes of the step graph's inputs and outputs for a config. */
export function stepGraphSignature(config: ModelConfig): {
  opset: number;
  inputs: StepGraphValue[];
  outputs: StepGraphValue[];
} {
  const { v } = dimsOf(config);
  const state = stateShape(config);
  const stateText = 'per layer and key/value head the prefix sums S (M × E) with z appended as column E';
  const positionText =
    config.positions === 'learned'
      ? `its absolute position, 0 for the first, below ${config.maxPositions} (the learned positions)`
      : 'its absolute position, 0 for the first';
  return {
    opset: OPSET,
    inputs: [
      { name: 'token', dtype: 'int32', shape: [1], description: 'the token id fed at this step' },
      { name: 'position', dtype: 'int32', shape: [1], description: positionText },
      {
        name: 'state',
        dtype: 'float32',
        shape: state,
        description: `${stateText}; zeros before the first token`,
      },
    ],
    outputs: [
      { name: 'logits', dtype: 'float32', shape: [1, v], description: 'next-token logits after this token' },
      {
        name: 'stateOut',
        dtype: 'float32',
        shape: state,
        description: `${stateText}, to feed with the next token`,
      },
    ],
  };
}

/** The serialised step graph (ModelProto bytes) of these weights and features. */
export function buildDecoderStepGraph(
  config: ModelConfig,
  params: Params,
  features: readonly LayerFeatures[],
): Uint8Array {
  checkModelInputs(config, params, features);
  const { kv: kvHeads, e, m, n } = dimsOf(config);
  const b = new GraphBuilder('slim_decoder_step');
  const token = b.input('token', 'int32', [1]);
  const position = b.input('position', 'int32', [1]);
  const state = b.input('state', 'float', stateShape(config));

  const shapes = paramShapes(config);
  const embedded = new Map<string, Value>();
  const source: ModelSource = {
    param: (name) => {
      let value = embedded.get(name);
      if (!value) embedded.set(name, (value = b.constant(params[name]!, shapes[name]!)));
      return value;
    },
    features: (i) => {
      const omega = features[i]!.omega; // [M, E]
      const omegaT = new Float32Array(e * m); // [E, M]
      for (let j = 0; j < m; j++) for (let c = 0; c < e; c++) omegaT[c * m + j] = omega[j * e + c]!;
      return {
        omegaT: b.constant(omegaT, [e, m]),
        keyStabiliser: b.constant(Float32Array.of(features[i]!.keyStabiliser), [1, 1]),
      };
    },
  };
  const rows: Rows = { count: 1, positions: positionsFrom(b, config, 1, position) };

  let hidden = embed(b, config, source, rows, b.reshape(token, [1, 1])); // [1, D]
  const statesOut: Value[] = [];
  for (let i = 0; i < n; i++) {
    const kv = layerKeysValues(b, config, source, rows, i, hidden);
    const stateIn = b.reshape(b.slice(state, 0, i, i + 1), [kvHeads, m, e + 1]);
    // layerMix reads the state before this token; the token's own key enters through the diagonal of the
    // (1 × 1) causal mask, as in the chunk graphs (inclusive causal attention).
    hidden = layerMix(b, config, source, rows, i, hidden, kv, stateIn);
    statesOut.push(b.reshape(b.add(stateIn, kv.contribution), [1, kvHeads, m, e + 1]));
  }
  b.output(lmHead(b, config, source, hidden), 'logits');
  b.output(b.concat(statesOut, 0), 'stateOut');
  return b.build();
}
