// Legend: C chunk, N layers, K key/value heads, M random features, E head size, V vocab, P params.
/**
 * The chunk graphs of the SLiM engine. One chunk of C tokens runs through all N layers bottom-up, starting
 * from the prefix-sum states that entered it; everything a run needs travels in a handful of tensors:
 *
 *   params      [P]               every parameter, flat, in paramShapes order (sliced inside the graph)
 *   tokens      [2, C] int32      row 0: input ids x, row 1: target ids y (padding: any valid id)
 *   weights     [2, C]            row 0: 1 for real tokens, 0 for padding (masks keys out of the states);
 *                                 row 1: the loss weight of each prediction (1/L, or 0 for padding)
 *   rope        [2, C, E]         (positions 'rope') cos / sin of t·θ_p at absolute positions t, each
 *                                 repeated for the pair (2p, 2p+1); computed in fp64 outside (fp32 t·θ
 *                                 loses ~t·2⁻²⁴ rad)
 *   positions   [C] int32         (positions 'learned') absolute positions t, the pos_emb rows; padding 0.
 *                                 Positions are data, so one session serves every chunk, and pos_emb's
 *                                 gradient is the exact scatter-add of the gathered rows
 *   features    [N, M·E + 1]      per layer: ω row-major, then the key stabiliser s
 *   state       [N, K, M, E + 1]  per layer and key/value head S (M × E) with z appended as column E: z
 *                                 is the state of a value column of ones, so one matmul updates both
 *   stateGradOut [N, K, M, E + 1] ∂J/∂(state after the chunk), backward graphs only
 *
 * Graph kinds:
 *   states     (state = S_in)  → contribution Δ = Σ_chunk φ(k)[v, 1]ᵀ (SLiM's forward pass: stops at the
 *                                 last layer's keys and values)
 *   forward    (state = S_in)  → loss, stateOut (evaluation)
 *   logits     (state = S_in)  → logits [C, V], stateOut (the decoder's prefill; row 1 of tokens and of
 *                                 weights is not read)
 *   given      (state = S_in)  → loss, grads [P], stateGradIn (∂J/∂S_in)
 *   subtract   (state = S_out) → loss, grads, stateGradIn, contribution Δ; inside, S_in = S_out − Δ
 * where J = chunk loss + ⟨S_out, stateGradOut⟩ with S_in a leaf (the SLiM surrogate), so the gradients of
 * every chunk summed are the gradients of the whole sequence. The engine carries the states across chunks
 * in fp64 from the contributions (S_out = S_in + Δ forward, S_in = S_out − Δ backward), so rebuilding a
 * state costs one fp32 rounding instead of one per later chunk.
 *
 * With LoRA, `params` holds the trainable adapters only (trainableShapes order) and one input per frozen
 * tensor (`frozen/<name>`: the base and A), tensors the runner makes once and keeps across runs. Every adapted matrix
 * reaches the layers as its effective weight W + s · A B, built in the graph; `grads` holds
 * ∂J/∂(trainable adapters) only, and autodiff emits nothing for the frozen base (no gradient nodes, no
 * scatter for the embedding).
 *
 * The layer body (layers.ts) is one definition shared with the decoder's step graph (decode/graph.ts),
 * which embeds the weights and ω as initializers and computes the positions from a position input.
 */
import type { ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';
import type { LoraConfig } from '../model/lora.js';
import { adaptedMatrices, frozenShapes, loraScale, trainableShapes } from '../model/lora.js';
import { paramShapes } from '../model/params.js';
import { gradients } from '../onnx/autodiff.js';
import type { Value } from '../onnx/graph.js';
import { GraphBuilder, sizeOf } from '../onnx/graph.js';
import type { LowRank, ModelSource, Rows } from './layers.js';
import { embed, layerKeysValues, layerMix, lmHead, ropeRows } from './layers.js';

export type ChunkGraphKind = 'states' | 'forward' | 'logits' | 'given' | 'subtract';

/** Parameter layout inside the flat params tensor. */
export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface ParamLayout {
  slots: ParamSlot[];
  total: number;
}

export function paramLayout(config: ModelConfig): ParamLayout {
  return layoutOf(paramShapes(config));
}

/** The graph input that carries frozen tensor `name` (LoRA's base and fixed A). */
export function frozenInputName(name: string): string {
  return `frozen/${name}`;
}

/** The flat inputs of a model's graphs: `params` (what trains) and, with LoRA, `frozen`. */
export function chunkLayouts(
  config: ModelConfig,
  lora?: LoraConfig,
): { params: ParamLayout; frozen?: ParamLayout } {
  if (!lora) return { params: paramLayout(config) };
  return { params: layoutOf(trainableShapes(config, lora)), frozen: layoutOf(frozenShapes(config, lora)) };
}

function layoutOf(shapes: Record<string, number[]>): ParamLayout {
  let offset = 0;
  const slots = Object.entries(shapes).map(([name, shape]) => {
    const size = sizeOf(shape);
    const slot = { name, shape, offset, size };
    offset += size;
    return slot;
  });
  return { slots, total: offset };
}

/** The state tensor's shape: [N, K, M, E + 1]. */
export function stateShape(config: ModelConfig): number[] {
  const { n, kv, m, e } = dimsOf(config);
  return [n, kv, m, e + 1];
}

/** Elements of the state tensor: N · K · M · (E + 1). */
export function stateSize(config: ModelConfig): number {
  return sizeOf(stateShape(config));
}

export function buildChunkGraph(
  config: ModelConfig,
  chunk: number,
  kind: ChunkGraphKind,
  lora?: LoraConfig,
): Uint8Array {
  return chunkGraphBuilder(config, chunk, kind, lora).build();
}

/** Where the LoRA frozen tensors come from: graph inputs fed to every run, or initializers made once. */
export type FrozenSource = 'inputs' | 'resident';

/**
 * The chunk graph as recorded nodes, before encoding: what FLOP counting (flops.ts) reads. `scope`
 * prefixes its names, for use as a branch of the resident graph.
 */
export function chunkGraphBuilder(
  config: ModelConfig,
  chunk: number,
  kind: ChunkGraphKind,
  lora?: LoraConfig,
  frozenSource: FrozenSource = 'inputs',
  scope = '',
): GraphBuilder {
  const { kv: kvHeads, e, m, n } = dimsOf(config);
  const c = chunk;
  const b = new GraphBuilder(`slim_${kind}_c${c}`, scope);
  const layouts = chunkLayouts(config, lora);
  const layout = layouts.params;
  const layerState = [kvHeads, m, e + 1];

  const flat = b.input('params', 'float', [layout.total]);
  const tokens = b.input('tokens', 'int32', [2, c]);
  const weights = b.input('weights', 'float', [2, c]);
  const positions =
    config.positions === 'rope'
      ? ropeRows(b, config, c, b.input('rope', 'float', [2, c, e]))
      : { kind: 'learned' as const, index: b.input('positions', 'int32', [c]) };
  const features = b.input('features', 'float', [n, m * e + 1]);
  const state = b.input('state', 'float', stateShape(config));
  const backward = kind === 'given' || kind === 'subtract';
  const stateGrad = backward ? b.input('stateGradOut', 'float', stateShape(config)) : undefined;

  const tensors = new Map<string, Value>();
  const sliceAll = (input: Value, from: ParamLayout): void => {
    for (const slot of from.slots) {
      tensors.set(slot.name, b.reshape(b.slice(input, 0, slot.offset, slot.offset + slot.size), slot.shape));
    }
  };
  sliceAll(flat, layout);
  // Frozen tensors are inputs of their own, not slices of one flat input: a slice is a copy in the wasm
  // heap, and the base of a 135 M model is 540 MB (docs/benchmarks.md, SmolLM2's shapes).
  for (const slot of layouts.frozen?.slots ?? []) {
    const name = frozenInputName(slot.name);
    tensors.set(
      slot.name,
      frozenSource === 'inputs'
        ? b.input(name, 'float', slot.shape)
        : b.externalInitializer(name, 'float', slot.shape, {
            location: name,
            offset: 0,
            length: 4 * slot.size,
          }),
    );
  }
  const adapters = new Map<string, LowRank>();
  if (lora) {
    const scale = b.scalar(loraScale(lora));
    for (const a of adaptedMatrices(config, lora)) {
      adapters.set(a.name, { a: tensors.get(a.a)!, b: tensors.get(a.b)!, scale });
    }
  }
  // Weights and ω are sliced from the flat inputs: one session serves every parameter version.
  const source: ModelSource = {
    param: (name) => tensors.get(name)!,
    adapter: (name) => adapters.get(name),
    features: (i) => {
      const layerFeatures = b.slice(features, 0, i, i + 1);
      return {
        omegaT: b.transposeLast(b.reshape(b.slice(layerFeatures, 1, 0, m * e), [m, e])), // [E, M]
        keyStabiliser: b.reshape(b.slice(layerFeatures, 1, m * e, m * e + 1), [1, 1]),
      };
    },
  };
  const rows: Rows = {
    count: c,
    positions,
    keyMask: b.reshape(b.slice(weights, 0, 0, 1), [c, 1, 1]),
  };
  const ids = (row: number): Value => b.reshape(b.slice(tokens, 0, row, row + 1), [c, 1]);
  const lossWeight = b.reshape(b.slice(weights, 0, 1, 2), [c, 1]);

  const statesIn: Value[] = [];
  const statesOut: Value[] = [];
  const contributions: Value[] = [];
  let hidden = embed(b, config, source, rows, ids(0)); // [C, D]
  for (let i = 0; i < n; i++) {
    const kv = layerKeysValues(b, config, source, rows, i, hidden);
    const given = b.reshape(b.slice(state, 0, i, i + 1), layerState);
    // The subtract graph receives S_out and rebuilds S_in; S_in is then a leaf of the surrogate.
    const stateIn = kind === 'subtract' ? b.stopGradient(b.sub(given, kv.contribution)) : given;
    statesIn.push(stateIn);
    statesOut.push(b.add(stateIn, kv.contribution));
    contributions.push(kv.contribution);
    // The states graph stops here: nothing above the last layer's keys and values feeds a state.
    if (kind === 'states' && i === n - 1) break;
    hidden = layerMix(b, config, source, rows, i, hidden, kv, stateIn);
  }

  const stack = (perLayer: readonly Value[]): Value =>
    b.concat(
      perLayer.map((s) => b.reshape(s, [1, ...layerState])),
      0,
    );
  if (kind === 'states') {
    b.output(stack(contributions), 'contribution');
    return b;
  }

  const logits = lmHead(b, config, source, hidden); // [C, V]
  if (kind === 'logits') {
    b.output(logits, 'logits');
    b.output(stack(statesOut), 'stateOut');
    return b;
  }
  // The target logits are picked before the log-sum-exp is built, so backward (newest first) meets the
  // pick last and scatter-adds its C entries into the softmax's dense gradient: no [C, V] one-hot.
  const targetLogit = b.takeAlongRows(logits, ids(1)); // [C, 1]
  const maxLogit = b.stopGradient(b.reduceMax(logits, [1]));
  const logSumExp = b.add(b.log(b.reduceSum(b.exp(b.sub(logits, maxLogit)), [1])), maxLogit);
  const loss = b.reshape(b.reduceSum(b.mul(b.sub(logSumExp, targetLogit), lossWeight), [0, 1]), []);
  b.output(loss, 'loss');
  if (!stateGrad) {
    b.output(stack(statesOut), 'stateOut');
    return b;
  }
  const seeds: [Value, Value][] = [[loss, b.scalar(1)]];
  statesOut.forEach((s, i) => seeds.push([s, b.reshape(b.slice(stateGrad, 0, i, i + 1), layerState)]));
  const paramValues = layout.slots.map((slot) => tensors.get(slot.name)!);
  const grads = gradients(b, seeds, [...paramValues, ...statesIn]);
  const paramGrads = grads.slice(0, paramValues.length);
  b.output(
    b.concat(
      paramGrads.map((g, k) => b.reshape(g, [layout.slots[k]!.size])),
      0,
    ),
    'grads',
  );
  b.output(stack(grads.slice(paramValues.length)), 'stateGradIn');
  if (kind === 'subtract') b.output(stack(contributions), 'contribution');
  return b;
}

/** Every output a chunk graph kind can have, in the order the resident graph returns them. */
const KIND_OUTPUTS: Readonly<Record<ChunkGraphKind, readonly string[]>> = {
  states: ['contribution'],
  forward: ['loss', 'stateOut'],
  logits: ['logits', 'stateOut'],
  given: ['loss', 'grads', 'stateGradIn'],
  subtract: ['loss', 'grads', 'stateGradIn', 'contribution'],
};

/**
 * LoRA's resident graph: the chunk graphs of `kinds` as branches of one model, chosen per run by the
 * int32 scalar input `kind` (an index into `kinds`), with the frozen tensors as initializers whose bytes
 * come from the externalData session option (locations frozenInputName). onnxruntime copies initializers
 * into its heap once per session, so one session for all kinds holds the frozen base once, and no run
 * copies it again (an input is copied into the wasm heap on every run). Outputs are the union of the
 * kinds' (KIND_OUTPUTS); those a kind lacks are a scalar 0.
 */
export function buildResidentGraph(
  config: ModelConfig,
  chunk: number,
  kinds: readonly ChunkGraphKind[],
  lora: LoraConfig,
): Uint8Array {
  const names = [...new Set(kinds.flatMap((kind) => KIND_OUTPUTS[kind]))];
  const branches = kinds.map((kind) => {
    const sub = chunkGraphBuilder(config, chunk, kind, lora, 'resident', `${kind}/`);
    for (const name of names) {
      if (!KIND_OUTPUTS[kind].includes(name)) sub.output(sub.scalar(0), name);
    }
    return sub;
  });
  if (kinds.length < 2) throw new RangeError('a resident graph serves two kinds or more');
  const b = new GraphBuilder(`slim_resident_c${chunk}`);
  const kind = b.input('kind', 'int32', []);
  const isKind = (i: number): Value => b.equal(kind, b.constantInt32(Int32Array.of(i), []));
  // If chooses between two branches: kinds i, i+1, … nest, the last kind being the innermost else.
  const rest = (i: number): GraphBuilder => {
    if (i === kinds.length - 1) return branches[i]!;
    const wrap = new GraphBuilder(`slim_resident_${i}`, `resident${i}/`);
    const outs = wrap.ifElse(isKind(i), branches[i]!, rest(i + 1), names);
    outs.forEach((out, k) => wrap.output(out, names[k]!, false));
    return wrap;
  };
  const outs = b.ifElse(isKind(0), branches[0]!, rest(1), names);
  outs.forEach((out, k) => b.output(out, names[k]!, false));
  return b.build();
}
