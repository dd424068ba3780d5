/**
 * The chunk graphs of the SLiM engine. One chunk of C tokens runs through all N layers bottom-up, starting
 * from the prefix-sum states that entered it; everything a run needs travels in a handful of tensors:
 *
 *   params      [P]               every parameter, flat, in paramShapes order (sliced inside the graph)
 *   tokens      [2, C] int32      row 0: input ids x, row 1: target ids y (padding: any valid id)
 *   weights     [2, C]            row 0: 1 for real tokens, 0 for padding (masks keys out of the states);
 *                                 row 1: the loss weight of each prediction (1/L, or 0 for padding)
 *   rope        [2, C, E]         cos / sin of t·θ_p at absolute positions t, each repeated for the pair
 *                                 (2p, 2p+1); computed in fp64 outside (fp32 t·θ loses ~t·2⁻²⁴ rad)
 *   features    [N, M·E + 1]      per layer: ω row-major, then the key stabiliser s
 *   state       [N, H, M, E + 1]  per layer and head S (M × E) with z appended as column E: z is the
 *                                 state of a value column of ones, so one matmul updates both
 *   stateGradOut [N, H, M, E + 1] ∂J/∂(state after the chunk), backward graphs only
 *
 * Graph kinds:
 *   states     (state = S_in)  → contribution Δ = Σ_chunk φ(k)[v, 1]ᵀ (SLiM's forward pass: stops at the
 *                                 last layer's keys and values)
 *   forward    (state = S_in)  → loss, stateOut (evaluation)
 *   given      (state = S_in)  → loss, grads [P], stateGradIn (∂J/∂S_in)
 *   subtract   (state = S_out) → loss, grads, stateGradIn, contribution Δ; inside, S_in = S_out − Δ
 * where J = chunk loss + ⟨S_out, stateGradOut⟩ with S_in a leaf (the SLiM surrogate), so the gradients of
 * every chunk summed are the gradients of the whole sequence. The engine carries the states across chunks
 * in fp64 from the contributions (S_out = S_in + Δ forward, S_in = S_out − Δ backward), so rebuilding a
 * state costs one fp32 rounding instead of one per later chunk.
 */
import type { ModelConfig } from '../model/config.js';
import { ATTN_EPS, LN_EPS, dimsOf } from '../model/config.js';
import { paramShapes } from '../model/params.js';
import { gradients } from '../onnx/autodiff.js';
import type { Value } from '../onnx/graph.js';
import { GraphBuilder, sizeOf } from '../onnx/graph.js';

export type ChunkGraphKind = 'states' | 'forward' | 'given' | 'subtract';

/** Parameter layout inside the flat params tensor. */
export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export function paramLayout(config: ModelConfig): { slots: ParamSlot[]; total: number } {
  let offset = 0;
  const slots = Object.entries(paramShapes(config)).map(([name, shape]) => {
    const size = sizeOf(shape);
    const slot = { name, shape, offset, size };
    offset += size;
    return slot;
  });
  return { slots, total: offset };
}

/** Elements of the state tensor: N · H · M · (E + 1). */
export function stateSize(config: ModelConfig): number {
  const { n, h, m, e } = dimsOf(config);
  return n * h * m * (e + 1);
}

function layerNorm(b: GraphBuilder, x: Value, weight: Value, bias: Value): Value {
  const centred = b.sub(x, b.reduceMean(x, [-1]));
  const variance = b.reduceMean(b.mul(centred, centred), [-1]);
  const normalised = b.div(centred, b.sqrt(b.add(variance, b.scalar(LN_EPS))));
  return b.add(b.mul(normalised, weight), bias);
}

/** (x_{2p}, x_{2p+1}) → (−x_{2p+1}, x_{2p}) as a matrix, so RoPE is x·cos + (x @ R)·sin. */
function pairRotation(e: number): Float32Array {
  const r = new Float32Array(e * e);
  for (let p = 0; p < e / 2; p++) {
    r[(2 * p + 1) * e + 2 * p] = -1;
    r[2 * p * e + 2 * p + 1] = 1;
  }
  return r;
}

export function buildChunkGraph(config: ModelConfig, chunk: number, kind: ChunkGraphKind): Uint8Array {
  const { d, h: heads, e, m, v: vocab, n } = dimsOf(config);
  const c = chunk;
  const b = new GraphBuilder(`slim_${kind}_c${c}`);
  const layout = paramLayout(config);
  const stateShape = [n, heads, m, e + 1];

  const flat = b.input('params', 'float', [layout.total]);
  const tokens = b.input('tokens', 'int32', [2, c]);
  const weights = b.input('weights', 'float', [2, c]);
  const rope = b.input('rope', 'float', [2, c, e]);
  const features = b.input('features', 'float', [n, m * e + 1]);
  const state = b.input('state', 'float', stateShape);
  const backward = kind === 'given' || kind === 'subtract';
  const stateGrad = backward ? b.input('stateGradOut', 'float', stateShape) : undefined;

  const params = new Map<string, Value>();
  for (const slot of layout.slots) {
    params.set(slot.name, b.reshape(b.slice(flat, 0, slot.offset, slot.offset + slot.size), slot.shape));
  }
  const param = (name: string): Value => params.get(name)!;

  // Constants: vocabulary ids for one-hot rows, the causal-inclusive mask, RoPE pair rotation.
  const vocabIds = b.constantInt32(
    Int32Array.from({ length: vocab }, (_, i) => i),
    [1, vocab],
  );
  const oneHot = (row: number): Value =>
    b.cast(b.equal(b.reshape(b.slice(tokens, 0, row, row + 1), [c, 1]), vocabIds), 'float');
  const columns = b.constant(
    Float32Array.from({ length: c }, (_, i) => i),
    [1, c],
  );
  const rowsPlusHalf = b.constant(
    Float32Array.from({ length: c }, (_, i) => i + 0.5),
    [c, 1],
  );
  const causalMask = b.cast(b.less(columns, rowsPlusHalf), 'float'); // [C, C], 1 where τ ≤ t
  const rotation = b.constant(pairRotation(e), [e, e]);
  const cos = b.reshape(b.slice(rope, 0, 0, 1), [c, 1, e]);
  const sin = b.reshape(b.slice(rope, 0, 1, 2), [c, 1, e]);
  const keyMask = b.reshape(b.slice(weights, 0, 0, 1), [c, 1, 1]);
  const lossWeight = b.reshape(b.slice(weights, 0, 1, 2), [c, 1]);
  const valueOnes = b.constant(new Float32Array(c * heads).fill(1), [c, heads, 1]);
  const featureScale = b.scalar(1 / Math.sqrt(m));

  /** [C, D] → rotated [C, H, E]. */
  const rotary = (x: Value): Value => {
    const byHead = b.reshape(x, [c, heads, e]);
    const swapped = b.reshape(b.matmul(b.reshape(x, [c * heads, e]), rotation), [c, heads, e]);
    return b.add(b.mul(byHead, cos), b.mul(swapped, sin));
  };
  /** ω·x − |x|²/2 for every row of x [C, H, E]: [C·H, M]. */
  const featureLogits = (x: Value, omegaT: Value): Value => {
    const rows = b.reshape(x, [c * heads, e]);
    const halfSquare = b.mul(b.reduceSum(b.mul(rows, rows), [1]), b.scalar(0.5));
    return b.sub(b.matmul(rows, omegaT), halfSquare);
  };
  /** [C·H, M] → [H, C, M]. */
  const headsFirst = (x: Value, last: number): Value =>
    b.transpose(b.reshape(x, [c, heads, last]), [1, 0, 2]);

  const statesIn: Value[] = [];
  const statesOut: Value[] = [];
  const contributions: Value[] = [];
  let hidden = b.matmul(oneHot(0), param('tok_emb')); // [C, D]
  const qkScale = b.scalar(e ** -0.25);
  for (let i = 0; i < n; i++) {
    const p = (suffix: string): Value => param(`blocks.${i}.${suffix}`);
    const layerFeatures = b.slice(features, 0, i, i + 1);
    const omegaT = b.transposeLast(b.reshape(b.slice(layerFeatures, 1, 0, m * e), [m, e])); // [E, M]
    const keyStabiliser = b.reshape(b.slice(layerFeatures, 1, m * e, m * e + 1), [1, 1]);

    const a = layerNorm(b, hidden, p('ln1.weight'), p('ln1.bias'));
    const k = rotary(b.mul(b.matmul(a, p('attn.wk')), qkScale));
    const values = b.concat([b.reshape(b.matmul(a, p('attn.wv')), [c, heads, e]), valueOnes], 2);

    const phiKRows = b.mul(b.exp(b.sub(featureLogits(k, omegaT), keyStabiliser)), featureScale);
    const phiK = b.transpose(b.mul(b.reshape(phiKRows, [c, heads, m]), keyMask), [1, 0, 2]); // [H, C, M]
    const v = b.transpose(values, [1, 0, 2]); // [H, C, E + 1]

    const contribution = b.matmul(b.transposeLast(phiK), v); // [H, M, E + 1]
    const given = b.reshape(b.slice(state, 0, i, i + 1), [heads, m, e + 1]);
    // The subtract graph receives S_out and rebuilds S_in; S_in is then a leaf of the surrogate.
    const stateIn = kind === 'subtract' ? b.stopGradient(b.sub(given, contribution)) : given;
    statesIn.push(stateIn);
    statesOut.push(b.add(stateIn, contribution));
    contributions.push(contribution);
    // The states graph stops here: nothing above the last layer's keys and values feeds a state.
    if (kind === 'states' && i === n - 1) break;

    const q = rotary(b.mul(b.matmul(a, p('attn.wq')), qkScale));
    const queryLogits = featureLogits(q, omegaT);
    const queryStabiliser = b.stopGradient(b.reduceMax(queryLogits, [1]));
    const phiQ = headsFirst(b.mul(b.exp(b.sub(queryLogits, queryStabiliser)), featureScale), m);

    const scores = b.mul(b.matmul(phiQ, b.transposeLast(phiK)), causalMask); // [H, C, C]
    const numDen = b.add(b.matmul(scores, v), b.matmul(phiQ, stateIn)); // [H, C, E + 1]
    const numerator = b.slice(numDen, 2, 0, e);
    const denominator = b.add(b.slice(numDen, 2, e, e + 1), b.scalar(ATTN_EPS));
    const attention = b.reshape(b.transpose(b.div(numerator, denominator), [1, 0, 2]), [c, d]);
    hidden = b.add(hidden, b.matmul(attention, p('attn.wo')));

    const mlpIn = layerNorm(b, hidden, p('ln2.weight'), p('ln2.bias'));
    const u = b.add(b.matmul(mlpIn, p('mlp.w1')), p('mlp.b1'));
    const erfTerm = b.add(b.erf(b.mul(u, b.scalar(Math.SQRT1_2))), b.scalar(1));
    const gelu = b.mul(b.mul(u, erfTerm), b.scalar(0.5));
    hidden = b.add(hidden, b.add(b.matmul(gelu, p('mlp.w2')), p('mlp.b2')));
  }

  const stack = (perLayer: readonly Value[]): Value =>
    b.concat(
      perLayer.map((s) => b.reshape(s, [1, heads, m, e + 1])),
      0,
    );
  if (kind === 'states') {
    b.output(stack(contributions), 'contribution');
    return b.build();
  }

  const final = layerNorm(b, hidden, param('ln_f.weight'), param('ln_f.bias'));
  const logits = b.matmul(final, b.transposeLast(param('tok_emb'))); // [C, V]
  const maxLogit = b.stopGradient(b.reduceMax(logits, [1]));
  const logSumExp = b.add(b.log(b.reduceSum(b.exp(b.sub(logits, maxLogit)), [1])), maxLogit);
  const targetLogit = b.reduceSum(b.mul(logits, oneHot(1)), [1]);
  const loss = b.reshape(b.reduceSum(b.mul(b.sub(logSumExp, targetLogit), lossWeight), [0, 1]), []);
  b.output(loss, 'loss');
  if (!stateGrad) {
    b.output(stack(statesOut), 'stateOut');
    return b.build();
  }
  const seeds: [Value, Value][] = [[loss, b.scalar(1)]];
  statesOut.forEach((s, i) => seeds.push([s, b.reshape(b.slice(stateGrad, 0, i, i + 1), [heads, m, e + 1])]));
  const paramValues = layout.slots.map((slot) => param(slot.name));
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
  return b.build();
}
