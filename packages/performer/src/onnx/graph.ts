/**
 * A static-shape ONNX graph builder. Every value carries its shape (all shapes are fixed once a chunk
 * size is chosen), which lets autodiff.ts un-broadcast gradients without shape ops in the graph and
 * catches shape mistakes when the graph is built rather than when onnxruntime runs it.
 *
 * Only ops that run on both the wasm and the WebGPU execution providers are offered (no Trilu, no
 * LogSoftmax: masks and log-softmax are built from primitives).
 */
import type {
  AttributeValue,
  DataTypeName,
  ExternalData,
  GraphSpec,
  NodeSpec,
  TensorSpec,
  ValueSpec,
} from './proto.js';
import { DataType, encodeModel } from './proto.js';

/** Opset 18: ReduceSum/ReduceMean/ReduceMax take axes as an input; Pad takes `axes`. */
export const OPSET = 18;

export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DataTypeName;
}

/** What autodiff needs to know about a recorded node beyond its ONNX form. */
export type NodeInfo =
  | { op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'MatMul' }
  /** a · bᵀ (Gemm, transB), both rank 2. */
  | { op: 'MatMulTransB' }
  | { op: 'Neg' | 'Exp' | 'Log' | 'Sqrt' | 'Erf' | 'Tanh' | 'Sigmoid' | 'Identity' }
  /** Rows of the first operand picked by `indices` ([R] int32, not differentiable). */
  | { op: 'Gather'; indices: Value }
  /** Entries of each row of the first operand, at `indices` ([R, J] int32) along the last axis. */
  | { op: 'GatherElements'; indices: Value }
  | { op: 'Reshape' }
  | { op: 'Transpose'; perm: readonly number[] }
  | { op: 'ReduceSum' | 'ReduceMean'; axes: readonly number[] }
  | { op: 'Slice'; axis: number; start: number; end: number }
  | { op: 'Concat'; axis: number }
  | { op: 'Expand' }
  | { op: 'Pad'; axis: number; before: number; after: number }
  /** Ops with no gradient: comparisons, casts, max, and the explicit stop-gradient. */
  | { op: 'NoGradient' };

export interface RecordedNode {
  readonly info: NodeInfo;
  /** The differentiable operands (constant shape/axes inputs are not listed). */
  readonly inputs: readonly Value[];
  readonly output: Value;
}

export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(`cannot broadcast [${a}] with [${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function normaliseAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
}

/** Inputs per Concat node (see GraphBuilder.concat). */
const MAX_CONCAT_INPUTS = 6;

export class GraphBuilder {
  readonly nodes: RecordedNode[] = [];
  private readonly specs: NodeSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly external = new Set<string>();
  private readonly int64Cache = new Map<string, string>();
  private readonly scalarCache = new Map<number, Value>();
  private counter = 0;

  /**
   * `scope` prefixes every name the builder makes (values and outputs): a builder meant as a subgraph
   * needs one, since ONNX names must not repeat across a graph and its subgraphs.
   */
  constructor(
    private readonly graphName: string,
    private readonly scope = '',
  ) {}

  private fresh(prefix: string): string {
    return `${this.scope}${prefix}_${this.counter++}`;
  }

  input(name: string, dtype: DataTypeName, shape: readonly number[]): Value {
    this.inputs.push({ name, dataType: dtype, dims: shape });
    return { name, dtype, shape };
  }

  /**
   * Exposes `value` as a graph output called `name` (after the scope). `declareShape` false leaves the
   * shape unknown: an If's outputs take the shape of whichever branch ran.
   */
  output(value: Value, name: string, declareShape = true): void {
    const named = this.emit(
      { op: 'NoGradient' },
      'Identity',
      [value],
      [],
      value.shape,
      value.dtype,
      `${this.scope}${name}`,
    );
    this.outputs.push({
      name: named.name,
      dataType: named.dtype,
      ...(declareShape && { dims: named.shape }),
    });
  }

  /**
   * A tensor whose bytes are not in the model but supplied when the session is created (onnxruntime-web:
   * the externalData option), so they never pass through the model proto.
   */
  externalInitializer(
    name: string,
    dtype: DataTypeName,
    shape: readonly number[],
    external: ExternalData,
  ): Value {
    this.initializers.push({ name, dataType: dtype, dims: shape, external });
    this.external.add(name);
    return { name, dtype, shape };
  }

  /**
   * ONNX If: the outputs `names` of `thenBranch` when `cond` (bool []) holds, else of `elseBranch`. The
   * branches read this graph's values by name; their inputs and external initializers move up into this
   * graph (shared by name), so each exists once however many branches use it. Not differentiable.
   */
  ifElse(cond: Value, thenBranch: GraphBuilder, elseBranch: GraphBuilder, names: readonly string[]): Value[] {
    const branch = (sub: GraphBuilder): GraphSpec => {
      for (const input of sub.inputs) {
        if (!this.inputs.some((i) => i.name === input.name)) this.inputs.push(input);
      }
      for (const t of sub.initializers) {
        if ('external' in t && !this.initializers.some((i) => i.name === t.name)) this.initializers.push(t);
      }
      const spec = sub.graph();
      const outputs = names.map((name) => {
        const found = spec.outputs.find((o) => o.name === `${sub.scope}${name}`);
        if (!found) throw new ShapeError(`branch ${sub.graphName} has no output ${name}`);
        return found;
      });
      return {
        ...spec,
        inputs: [],
        initializers: spec.initializers.filter((t) => !('external' in t)),
        outputs,
      };
    };
    const thenSpec = branch(thenBranch);
    const elseSpec = branch(elseBranch);
    const outputs = thenSpec.outputs.map((o) => ({
      name: this.fresh('if'),
      dtype: o.dataType,
      shape: o.dims ?? [],
    }));
    this.specs.push({
      opType: 'If',
      inputs: [cond.name],
      outputs: outputs.map((o) => o.name),
      attributes: {
        then_branch: { kind: 'graph', value: thenSpec },
        else_branch: { kind: 'graph', value: elseSpec },
      },
    });
    return outputs;
  }

  constant(data: Float32Array, shape: readonly number[]): Value {
    if (data.length !== sizeOf(shape)) throw new ShapeError(`constant of ${data.length} for [${shape}]`);
    const name = this.fresh('const');
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dataType: 'float', dims: shape, raw });
    return { name, dtype: 'float', shape };
  }

  /**
   * A float64 constant: for the few values that must be computed in double inside a graph (RoPE angles
   * t·θ at large positions lose ~t·2⁻²⁴ rad in float32).
   */
  constantFloat64(data: Float64Array, shape: readonly number[]): Value {
    if (data.length !== sizeOf(shape)) throw new ShapeError(`constant of ${data.length} for [${shape}]`);
    const name = this.fresh('const');
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dataType: 'double', dims: shape, raw });
    return { name, dtype: 'double', shape };
  }

  constantInt32(data: Int32Array, shape: readonly number[]): Value {
    const name = this.fresh('const');
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dataType: 'int32', dims: shape, raw });
    return { name, dtype: 'int32', shape };
  }

  /** A float scalar (shape []), shared between uses. */
  scalar(value: number): Value {
    const cached = this.scalarCache.get(value);
    if (cached) return cached;
    const made = this.constant(Float32Array.of(value), []);
    this.scalarCache.set(value, made);
    return made;
  }

  /** Name of a 1-D int64 initializer (shapes, axes, slice bounds), shared between uses. */
  private int64(values: readonly number[]): string {
    const key = values.join(',');
    const cached = this.int64Cache.get(key);
    if (cached) return cached;
    const name = this.fresh('i64');
    this.initializers.push({ name, dataType: 'int64', dims: [values.length], raw: int64Bytes(values) });
    this.int64Cache.set(key, name);
    return name;
  }

  private emit(
    info: NodeInfo,
    opType: string,
    operands: readonly Value[],
    extraInputs: readonly string[],
    shape: readonly number[],
    dtype: DataTypeName,
    outputName?: string,
    attributes?: Record<string, AttributeValue>,
  ): Value {
    const output: Value = { name: outputName ?? this.fresh(opType.toLowerCase()), shape, dtype };
    const spec: NodeSpec = {
      opType,
      inputs: [...operands.map((v) => v.name), ...extraInputs],
      outputs: [output.name],
    };
    if (attributes) spec.attributes = attributes;
    this.specs.push(spec);
    this.nodes.push({ info, inputs: operands, output });
    return output;
  }

  private binary(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: Value, b: Value): Value {
    return this.emit({ op }, op, [a, b], [], broadcastShapes(a.shape, b.shape), a.dtype);
  }

  add(a: Value, b: Value): Value {
    return this.binary('Add', a, b);
  }
  sub(a: Value, b: Value): Value {
    return this.binary('Sub', a, b);
  }
  mul(a: Value, b: Value): Value {
    return this.binary('Mul', a, b);
  }
  div(a: Value, b: Value): Value {
    return this.binary('Div', a, b);
  }

  private unary(
    op: 'Neg' | 'Exp' | 'Log' | 'Sqrt' | 'Erf' | 'Tanh' | 'Sigmoid' | 'Identity',
    x: Value,
  ): Value {
    return this.emit({ op }, op, [x], [], x.shape, x.dtype);
  }

  neg(x: Value): Value {
    return this.unary('Neg', x);
  }
  exp(x: Value): Value {
    return this.unary('Exp', x);
  }
  log(x: Value): Value {
    return this.unary('Log', x);
  }
  sqrt(x: Value): Value {
    return this.unary('Sqrt', x);
  }
  erf(x: Value): Value {
    return this.unary('Erf', x);
  }
  tanh(x: Value): Value {
    return this.unary('Tanh', x);
  }
  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x);
  }
  identity(x: Value): Value {
    return this.unary('Identity', x);
  }

  /** data[indices[r], …] for every r: rows of `data` ([R0, …]) by `indices` ([R] int32) → [R, …]. */
  gather(data: Value, indices: Value): Value {
    if (indices.dtype !== 'int32' || indices.shape.length !== 1) {
      throw new ShapeError(`gather indices must be int32 [R], got ${indices.dtype} [${indices.shape}]`);
    }
    const shape = [indices.shape[0]!, ...data.shape.slice(1)];
    return this.emit(
      { op: 'Gather', indices },
      'Gather',
      [data],
      [indices.name],
      shape,
      data.dtype,
      undefined,
      {
        axis: { kind: 'int', value: 0 },
      },
    );
  }

  /** data[r, indices[r, j]]: entries of each row of `data` ([R, W]) by `indices` ([R, J] int32) → [R, J]. */
  takeAlongRows(data: Value, indices: Value): Value {
    if (indices.dtype !== 'int32' || data.shape.length !== 2 || indices.shape.length !== 2) {
      throw new ShapeError(`takeAlongRows of [${data.shape}] by ${indices.dtype} [${indices.shape}]`);
    }
    if (indices.shape[0] !== data.shape[0]) {
      throw new ShapeError(`${indices.shape[0]} index rows for [${data.shape}]`);
    }
    const attributes = { axis: { kind: 'int', value: 1 } } as const;
    return this.emit(
      { op: 'GatherElements', indices },
      'GatherElements',
      [data],
      [indices.name],
      indices.shape,
      data.dtype,
      undefined,
      attributes,
    );
  }

  /**
   * base with every values entry added where indices (int32, values' shape) points along `axis`, the
   * other coordinates its own (ScatterElements, reduction 'add'; repeated indices add up): the gradient
   * of both gathers. Int32 indices throughout: only shape constants are int64 in our graphs.
   */
  scatterAdd(base: Value, indices: Value, values: Value, axis: number): Value {
    if (indices.dtype !== 'int32' || values.shape.join() !== indices.shape.join()) {
      throw new ShapeError(`scatter [${values.shape}] by ${indices.dtype} [${indices.shape}]`);
    }
    if (base.shape.some((d, i) => i !== axis && d !== values.shape[i])) {
      throw new ShapeError(`scatter [${values.shape}] along axis ${axis} of [${base.shape}]`);
    }
    return this.emit(
      { op: 'NoGradient' },
      'ScatterElements',
      [base, indices, values],
      [],
      base.shape,
      base.dtype,
      undefined,
      { axis: { kind: 'int', value: axis }, reduction: { kind: 'string', value: 'add' } },
    );
  }

  /** Cosine and sine carry no gradient here: they only ever see positions (RoPE), never parameters. */
  cos(x: Value): Value {
    return this.emit({ op: 'NoGradient' }, 'Cos', [x], [], x.shape, x.dtype);
  }
  sin(x: Value): Value {
    return this.emit({ op: 'NoGradient' }, 'Sin', [x], [], x.shape, x.dtype);
  }

  /** Numpy matmul; batch dimensions broadcast. */
  matmul(a: Value, b: Value): Value {
    if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError('matmul operands need rank ≥ 2');
    const [m, k] = a.shape.slice(-2) as [number, number];
    const [k2, n] = b.shape.slice(-2) as [number, number];
    if (k !== k2) throw new ShapeError(`matmul [${a.shape}] @ [${b.shape}]`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return this.emit({ op: 'MatMul' }, 'MatMul', [a, b], [], [...batch, m, n], a.dtype);
  }

  /**
   * a · bᵀ. With b an external initializer (a resident weight) one Gemm reads b as it is: onnxruntime
   * would fold Transpose(b) into a transposed copy of the weight. Otherwise Transpose and MatMul.
   */
  matmulTransposed(a: Value, b: Value): Value {
    if (!this.external.has(b.name) || a.shape.length !== 2 || b.shape.length !== 2) {
      return this.matmul(a, this.transposeLast(b));
    }
    const [m, k] = a.shape as [number, number];
    const [n, k2] = b.shape as [number, number];
    if (k !== k2) throw new ShapeError(`matmul [${a.shape}] @ [${b.shape}]ᵀ`);
    return this.emit({ op: 'MatMulTransB' }, 'Gemm', [a, b], [], [m, n], a.dtype, undefined, {
      transB: { kind: 'int', value: 1 },
    });
  }

  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.length !== x.shape.length) throw new ShapeError(`perm [${perm}] for [${x.shape}]`);
    const shape = perm.map((p) => x.shape[p] ?? 0);
    return this.emit({ op: 'Transpose', perm }, 'Transpose', [x], [], shape, x.dtype, undefined, {
      perm: { kind: 'ints', value: perm },
    });
  }

  /** Swaps the last two axes. */
  transposeLast(x: Value): Value {
    const r = x.shape.length;
    const perm = Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
    return this.transpose(x, perm);
  }

  reshape(x: Value, shape: readonly number[]): Value {
    if (sizeOf(shape) !== sizeOf(x.shape)) throw new ShapeError(`reshape [${x.shape}] to [${shape}]`);
    return this.emit({ op: 'Reshape' }, 'Reshape', [x], [this.int64(shape)], shape, x.dtype);
  }

  private reduce(op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax', x: Value, axes: readonly number[]): Value {
    const norm = axes.map((a) => normaliseAxis(a, x.shape.length));
    const shape = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
    const info: NodeInfo = op === 'ReduceMax' ? { op: 'NoGradient' } : { op, axes: norm };
    return this.emit(info, op, [x], [this.int64(norm)], shape, x.dtype);
  }

  /** Sums over `axes`, keeping them as size-1 dimensions. */
  reduceSum(x: Value, axes: readonly number[]): Value {
    return this.reduce('ReduceSum', x, axes);
  }
  reduceMean(x: Value, axes: readonly number[]): Value {
    return this.reduce('ReduceMean', x, axes);
  }
  /** Max over `axes` (kept as size 1). Not differentiable: use it only under stopGradient. */
  reduceMax(x: Value, axes: readonly number[]): Value {
    return this.reduce('ReduceMax', x, axes);
  }

  /** x[..., start:end, ...] along one axis. */
  slice(x: Value, axis: number, start: number, end: number): Value {
    const a = normaliseAxis(axis, x.shape.length);
    if (start < 0 || end > (x.shape[a] ?? 0) || start >= end) {
      throw new ShapeError(`slice ${start}:${end} of axis ${a} in [${x.shape}]`);
    }
    const shape = x.shape.map((d, i) => (i === a ? end - start : d));
    return this.emit(
      { op: 'Slice', axis: a, start, end },
      'Slice',
      [x],
      [this.int64([start]), this.int64([end]), this.int64([a])],
      shape,
      x.dtype,
    );
  }

  /** Zero padding along one axis. */
  pad(x: Value, axis: number, before: number, after: number): Value {
    const a = normaliseAxis(axis, x.shape.length);
    const shape = x.shape.map((d, i) => (i === a ? d + before + after : d));
    return this.emit(
      { op: 'Pad', axis: a, before, after },
      'Pad',
      [x],
      [this.int64([before, after]), '', this.int64([a])],
      shape,
      x.dtype,
    );
  }

  concat(xs: readonly Value[], axis: number): Value {
    const first = xs[0];
    if (!first) throw new ShapeError('concat of nothing');
    const a = normaliseAxis(axis, first.shape.length);
    // onnxruntime's WebGPU Concat binds every input as a storage buffer, and browsers allow as few as 8
    // per shader stage: a wider Concat runs but writes garbage. Build wide ones as a tree of narrow ones.
    if (xs.length > MAX_CONCAT_INPUTS) {
      const groups: Value[] = [];
      for (let i = 0; i < xs.length; i += MAX_CONCAT_INPUTS) {
        groups.push(this.concat(xs.slice(i, i + MAX_CONCAT_INPUTS), a));
      }
      return this.concat(groups, a);
    }
    const shape = first.shape.map((d, i) => (i === a ? xs.reduce((s, x) => s + (x.shape[i] ?? 0), 0) : d));
    for (const x of xs) {
      if (x.shape.some((d, i) => i !== a && d !== shape[i])) throw new ShapeError(`concat [${x.shape}]`);
    }
    return this.emit({ op: 'Concat', axis: a }, 'Concat', xs, [], shape, first.dtype, undefined, {
      axis: { kind: 'int', value: a },
    });
  }

  expand(x: Value, shape: readonly number[]): Value {
    const out = broadcastShapes(x.shape, shape);
    return this.emit({ op: 'Expand' }, 'Expand', [x], [this.int64(shape)], out, x.dtype);
  }

  equal(a: Value, b: Value): Value {
    return this.emit({ op: 'NoGradient' }, 'Equal', [a, b], [], broadcastShapes(a.shape, b.shape), 'bool');
  }

  less(a: Value, b: Value): Value {
    return this.emit({ op: 'NoGradient' }, 'Less', [a, b], [], broadcastShapes(a.shape, b.shape), 'bool');
  }

  cast(x: Value, to: DataTypeName): Value {
    return this.emit({ op: 'NoGradient' }, 'Cast', [x], [], x.shape, to, undefined, {
      to: { kind: 'int', value: DataType[to] },
    });
  }

  /** The same value, but gradients do not flow through it (autodiff treats it as a constant). */
  stopGradient(x: Value): Value {
    return this.emit({ op: 'NoGradient' }, 'Identity', [x], [], x.shape, x.dtype);
  }

  graph(): GraphSpec {
    return {
      name: this.graphName,
      nodes: this.specs,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    };
  }

  /** The serialised ModelProto. */
  build(): Uint8Array {
    return encodeModel({ ...this.graph(), opsetVersion: OPSET });
  }
}
