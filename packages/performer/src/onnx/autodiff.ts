/**
 * Reverse-mode autodiff over a GraphBuilder: appends the backward nodes to the same graph. onnxruntime-web
 * has no training API and no *Grad kernels, so every gradient is expressed with the forward ops again.
 *
 * `gradients(b, seeds, wrt)` walks the recorded nodes newest-first. A seed [y, ȳ] says ∂J/∂y = ȳ for the
 * implicit objective J = Σ ⟨y, ȳ⟩, so several outputs (a loss and a carried state) can be differentiated
 * in one sweep. Values listed in `wrt` are leaves: their gradient is returned and not propagated further,
 * which is how a rebuilt chunk state becomes the leaf S_in of the SLiM surrogate.
 */
import type { GraphBuilder, RecordedNode, Value } from './graph.js';
import { ShapeError, broadcastShapes } from './graph.js';

export class NoGradientPathError extends Error {
  override readonly name = 'NoGradientPathError';
}

/** Sums `grad` over the axes that broadcasting added or stretched, back to `shape`. */
function unbroadcast(b: GraphBuilder, grad: Value, shape: readonly number[]): Value {
  const offset = grad.shape.length - shape.length;
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    const target = i < offset ? 1 : (shape[i - offset] ?? 1);
    if (target === 1 && d !== 1) axes.push(i);
    else if (target !== d) throw new ShapeError(`cannot unbroadcast [${grad.shape}] to [${shape}]`);
  });
  const summed = axes.length > 0 ? b.reduceSum(grad, axes) : grad;
  return summed.shape.length === shape.length ? summed : b.reshape(summed, shape);
}

/**
 * A gradient contribution: a thunk making the value to add, or (the gathers) entries to scatter-add into
 * the gradient accumulated so far, so a sparse contribution never builds a dense tensor of its own.
 */
type Contribution = (() => Value) | { scatterInto: (base: Value) => Value } | undefined;

/**
 * Gradient contributions of one node, one entry per operand (undefined: none). Thunks, so nothing is
 * emitted for operands that need no gradient (constants, inputs, frozen parameters).
 */
function backwardOf(b: GraphBuilder, node: RecordedNode, g: Value): Contribution[] {
  const { info, inputs, output: y } = node;
  const [x, w] = inputs as [Value, Value];
  switch (info.op) {
    case 'Add':
      return [() => unbroadcast(b, g, x.shape), () => unbroadcast(b, g, w.shape)];
    case 'Sub':
      return [() => unbroadcast(b, g, x.shape), () => unbroadcast(b, b.neg(g), w.shape)];
    case 'Mul':
      return [() => unbroadcast(b, b.mul(g, w), x.shape), () => unbroadcast(b, b.mul(g, x), w.shape)];
    case 'Div':
      return [
        () => unbroadcast(b, b.div(g, w), x.shape),
        () => unbroadcast(b, b.neg(b.div(b.mul(g, y), w)), w.shape),
      ];
    case 'MatMul':
      return [
        () => unbroadcast(b, b.matmulTransposed(g, w), x.shape),
        () => unbroadcast(b, b.matmul(b.transposeLast(x), g), w.shape),
      ];
    case 'MatMulTransB':
      return [() => b.matmul(g, w), () => b.matmul(b.transposeLast(g), x)];
    case 'Neg':
      return [() => b.neg(g)];
    case 'Identity':
      return [() => g];
    case 'Exp':
      return [() => b.mul(g, y)];
    case 'Log':
      return [() => b.div(g, x)];
    case 'Sqrt':
      return [() => b.div(b.mul(g, b.scalar(0.5)), y)];
    case 'Tanh':
      return [() => b.mul(g, b.sub(b.scalar(1), b.mul(y, y)))];
    case 'Sigmoid':
      return [() => b.mul(g, b.mul(y, b.sub(b.scalar(1), y)))];
    case 'Gather': {
      // Row r of g goes to row indices[r]: the index repeated along every other axis of g.
      const [r, ...rest] = g.shape as [number, ...number[]];
      const rowIndex = (): Value => b.expand(b.reshape(info.indices, [r, ...rest.map(() => 1)]), g.shape);
      return [{ scatterInto: (base) => b.scatterAdd(base, rowIndex(), g, 0) }];
    }
    case 'GatherElements':
      return [{ scatterInto: (base) => b.scatterAdd(base, info.indices, g, 1) }];
    case 'Erf':
      // d erf(x)/dx = 2/√π · exp(−x²)
      return [() => b.mul(g, b.mul(b.exp(b.neg(b.mul(x, x))), b.scalar(2 / Math.sqrt(Math.PI))))];
    case 'Reshape':
      return [() => b.reshape(g, x.shape)];
    case 'Transpose': {
      const inverse = new Array<number>(info.perm.length);
      info.perm.forEach((p, i) => (inverse[p] = i));
      return [() => b.transpose(g, inverse)];
    }
    case 'ReduceSum':
      return [() => b.expand(g, x.shape)];
    case 'ReduceMean': {
      const count = info.axes.reduce((n, a) => n * (x.shape[a] ?? 1), 1);
      return [() => b.expand(b.mul(g, b.scalar(1 / count)), x.shape)];
    }
    case 'Expand':
      return [() => unbroadcast(b, g, x.shape)];
    case 'Slice': {
      const size = x.shape[info.axis] ?? 0;
      return [() => b.pad(g, info.axis, info.start, size - info.end)];
    }
    case 'Pad':
      return [() => b.slice(g, info.axis, info.before, (g.shape[info.axis] ?? 0) - info.after)];
    case 'Concat': {
      let start = 0;
      return inputs.map((input) => {
        const from = start;
        start += input.shape[info.axis] ?? 0;
        return () => b.slice(g, info.axis, from, from + (input.shape[info.axis] ?? 0));
      });
    }
    case 'NoGradient':
      return inputs.map(() => undefined);
  }
}

/**
 * Appends the backward pass for J = Σ ⟨seed value, seed gradient⟩ and returns ∂J/∂v for every v in
 * `wrt` (in order). Throws NoGradientPathError if some v does not influence J.
 */
export function gradients(
  b: GraphBuilder,
  seeds: readonly (readonly [Value, Value])[],
  wrt: readonly Value[],
): Value[] {
  const leaves = new Set(wrt.map((v) => v.name));
  // Only nodes on a path from a wrt leaf need a backward step.
  const needsGrad = new Set(leaves);
  const forward = [...b.nodes];
  for (const node of forward) {
    if (node.info.op === 'NoGradient') continue;
    if (node.inputs.some((v) => needsGrad.has(v.name))) needsGrad.add(node.output.name);
  }
  const grads = new Map<string, Value>();
  const accumulate = (v: Value, g: Value): void => {
    if (!needsGrad.has(v.name)) return;
    const shaped = g.shape.length === v.shape.length ? g : b.reshape(g, v.shape);
    broadcastShapes(shaped.shape, v.shape);
    const previous = grads.get(v.name);
    grads.set(v.name, previous ? b.add(previous, shaped) : shaped);
  };
  for (const [value, grad] of seeds) accumulate(value, grad);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i]!;
    if (leaves.has(node.output.name)) continue;
    const g = grads.get(node.output.name);
    if (!g) continue;
    const contributions = backwardOf(b, node, g);
    node.inputs.forEach((input, k) => {
      const contribution = contributions[k];
      if (!contribution || !needsGrad.has(input.name)) return;
      if (typeof contribution === 'function') accumulate(input, contribution());
      else {
        const base = grads.get(input.name) ?? b.expand(b.scalar(0), input.shape);
        grads.set(input.name, contribution.scatterInto(base));
      }
    });
  }
  return wrt.map((v) => {
    const g = grads.get(v.name);
    if (!g) throw new NoGradientPathError(`${v.name} does not influence the objective`);
    return g;
  });
}
