import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, NoGradientPathError, ShapeError, gradients } from '../src/onnx/index.js';
import type { Value } from '../src/onnx/index.js';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

async function run(model: Uint8Array, feeds: Record<string, [Float32Array, number[]]>) {
  const session = await ort.InferenceSession.create(model);
  const tensors = Object.fromEntries(
    Object.entries(feeds).map(([name, [data, dims]]) => [name, new ort.Tensor('float32', data, dims)]),
  );
  const out = await session.run(tensors);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as Float32Array]));
}

const wave = (n: number, phase: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + phase) * 0.9);

describe('ONNX encoder and builder', () => {
  it('runs a graph in onnxruntime-web with the values computed by hand', async () => {
    const b = new GraphBuilder('forward');
    const x = b.input('x', 'float', [2, 3]);
    const w = b.input('w', 'float', [3, 2]);
    const y = b.add(b.matmul(x, w), b.scalar(1));
    b.output(b.transpose(y, [1, 0]), 'yT');
    b.output(b.reduceMax(b.concat([x, b.pad(b.slice(x, 1, 0, 1), 1, 0, 2)], 0), [0]), 'colMax');
    const xs = Float32Array.of(1, 2, 3, 4, 5, 6);
    const ws = Float32Array.of(1, 0, 0, 1, -1, 2);
    const out = await run(b.build(), { x: [xs, [2, 3]], w: [ws, [3, 2]] });
    // x @ w = [[1−3, 2+6], [4−6, 5+12]] = [[−2, 8], [−2, 17]], +1, transposed.
    expect(Array.from(out.yT!)).toEqual([-1, -1, 9, 18]);
    // rows of x and the padded first column [1,0,0], [4,0,0]: column maxima.
    expect(Array.from(out.colMax!)).toEqual([4, 5, 6]);
  });

  it('builds a wide concat as a tree of narrow ones (WebGPU binds every input as a buffer)', async () => {
    const b = new GraphBuilder('wide');
    const parts = Array.from({ length: 20 }, (_, i) => b.input(`p${i}`, 'float', [1, 2]));
    b.output(b.concat(parts, 0), 'all');
    const concats = b.nodes.filter((n) => n.info.op === 'Concat');
    expect(concats.length).toBeGreaterThan(1);
    expect(Math.max(...concats.map((n) => n.inputs.length))).toBeLessThanOrEqual(6);
    const feeds = Object.fromEntries(
      parts.map((_, i) => [`p${i}`, [Float32Array.of(i, -i), [1, 2]] as [Float32Array, number[]]]),
    );
    const out = await run(b.build(), feeds);
    expect(Array.from(out.all!)).toEqual(parts.flatMap((_, i) => [i, -i]));
  });

  it('rejects shapes that do not fit when the graph is built', () => {
    const b = new GraphBuilder('shapes');
    const x = b.input('x', 'float', [2, 3]);
    expect(() => b.matmul(x, x)).toThrow(ShapeError);
    expect(() => b.add(x, b.input('y', 'float', [3, 2]))).toThrow(ShapeError);
    expect(() => b.reshape(x, [4])).toThrow(ShapeError);
    expect(() => b.slice(x, 1, 2, 5)).toThrow(ShapeError);
  });
});

describe('autodiff', () => {
  /** A scalar function touching every differentiable op, broadcasting included. */
  function composite(b: GraphBuilder, x: Value, w: Value): Value {
    const batched = b.reshape(b.expand(x, [2, 2, 3]), [2, 2, 3]); // [2, 2, 3]
    const product = b.matmul(batched, w); // [2, 2, 4], w broadcast over the batch
    const scaled = b.div(b.exp(b.mul(product, b.scalar(0.3))), b.add(b.reduceMean(w, [0]), b.scalar(2)));
    const mixed = b.sub(b.erf(scaled), b.neg(b.sqrt(scaled)));
    const moved = b.transpose(b.concat([b.pad(b.slice(mixed, 2, 1, 3), 2, 1, 1), mixed], 1), [2, 0, 1]);
    const logged = b.log(b.add(b.mul(moved, moved), b.scalar(1)));
    // Rows of w picked with a repeat (their gradients add up), through tanh and sigmoid.
    const rows = b.gather(w, b.constantInt32(Int32Array.of(2, 0, 2), [3])); // [3, 4]
    // Entries of each row (one picked twice), as the loss picks target logits.
    const picked = b.takeAlongRows(b.exp(rows), b.constantInt32(Int32Array.of(1, 3, 0, 0, 2, 1), [3, 2]));
    const squashed = b.add(
      b.mul(b.tanh(rows), b.sigmoid(b.mul(rows, b.scalar(3)))),
      b.reduceSum(b.mul(picked, picked), [1]),
    );
    return b.reshape(
      b.add(b.reduceSum(b.identity(logged), [0, 1, 2]), b.reshape(b.reduceSum(squashed, [0, 1]), [1, 1, 1])),
      [],
    );
  }

  it('matches central finite differences for every op', async () => {
    const b = new GraphBuilder('grad');
    const x = b.input('x', 'float', [2, 3]);
    const w = b.input('w', 'float', [3, 4]);
    const f = composite(b, x, w);
    const [gx, gw] = gradients(b, [[f, b.scalar(1)]], [x, w]);
    b.output(f, 'f');
    b.output(gx!, 'gx');
    b.output(gw!, 'gw');
    const session = await ort.InferenceSession.create(b.build());
    const evaluate = async (xs: Float32Array, ws: Float32Array) => {
      const out = await session.run({
        x: new ort.Tensor('float32', xs, [2, 3]),
        w: new ort.Tensor('float32', ws, [3, 4]),
      });
      return { f: (out.f!.data as Float32Array)[0]!, gx: out.gx!.data, gw: out.gw!.data };
    };
    const xs = wave(6, 0.1);
    const ws = wave(12, 2.0);
    const at = await evaluate(xs, ws);
    const step = 1e-2;
    for (const [which, base] of [
      ['x', xs],
      ['w', ws],
    ] as const) {
      const analytic = which === 'x' ? at.gx : at.gw;
      for (let i = 0; i < base.length; i++) {
        const plus = Float32Array.from(base);
        const minus = Float32Array.from(base);
        plus[i]! += step;
        minus[i]! -= step;
        const fPlus = which === 'x' ? await evaluate(plus, ws) : await evaluate(xs, plus);
        const fMinus = which === 'x' ? await evaluate(minus, ws) : await evaluate(xs, minus);
        const numeric = (fPlus.f - fMinus.f) / (2 * step);
        expect(Math.abs(numeric - (analytic[i] as number))).toBeLessThan(2e-3 * (1 + Math.abs(numeric)));
      }
    }
    await session.release();
  });

  it('treats stop-gradient values as constants and wrt values as leaves', async () => {
    const b = new GraphBuilder('stop');
    const x = b.input('x', 'float', [3]);
    const frozen = b.stopGradient(b.mul(x, x));
    const leaf = b.mul(x, b.scalar(2));
    // f = Σ x·sg(x²) + Σ leaf²  with leaf a leaf: ∂f/∂x = x², ∂f/∂leaf = 2·leaf.
    const f = b.add(b.reduceSum(b.mul(x, frozen), [0]), b.reduceSum(b.mul(leaf, leaf), [0]));
    const [gx, gLeaf] = gradients(b, [[f, b.constant(Float32Array.of(1), [1])]], [x, leaf]);
    b.output(gx!, 'gx');
    b.output(gLeaf!, 'gLeaf');
    const out = await run(b.build(), { x: [Float32Array.of(1, -2, 3), [3]] });
    expect(Array.from(out.gx!)).toEqual([1, 4, 9]);
    expect(Array.from(out.gLeaf!)).toEqual([4, -8, 12]);
  });

  it('gather: rows by index; the gradient scatter-adds repeats, and is not built for a frozen table', async () => {
    const b = new GraphBuilder('gather');
    const table = b.input('table', 'float', [4, 2]);
    const scale = b.input('scale', 'float', [1, 2]);
    const rows = b.gather(table, b.constantInt32(Int32Array.of(3, 1, 3), [3])); // [3, 2]
    const f = b.reshape(b.reduceSum(b.mul(rows, scale), [0, 1]), []);
    const before = b.nodes.length;
    const [gScale] = gradients(b, [[f, b.scalar(1)]], [scale]);
    expect(b.nodes.slice(before).some((n) => n.output.name.startsWith('scatterelements'))).toBe(false);
    const [gTable] = gradients(b, [[f, b.scalar(1)]], [table]);
    b.output(rows, 'rows');
    b.output(gScale!, 'gScale');
    b.output(gTable!, 'gTable');
    const out = await run(b.build(), {
      table: [Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), [4, 2]],
      scale: [Float32Array.of(10, -1), [1, 2]],
    });
    expect(Array.from(out.rows!)).toEqual([7, 8, 3, 4, 7, 8]);
    expect(Array.from(out.gScale!)).toEqual([7 + 3 + 7, 8 + 4 + 8]);
    // Row 3 was read twice, row 1 once, rows 0 and 2 never.
    expect(Array.from(out.gTable!)).toEqual([0, 0, 10, -1, 0, 0, 20, -2]);
  });

  it('throws NoGradientPathError for a value the objective does not depend on', () => {
    const b = new GraphBuilder('unused');
    const x = b.input('x', 'float', [3]);
    const unused = b.input('u', 'float', [3]);
    const f = b.reduceSum(b.exp(x), [0]);
    expect(() => gradients(b, [[f, b.scalar(1)]], [x, unused])).toThrow(NoGradientPathError);
  });
});
