/**
 * onnxruntime-web's own profiler, read back: with `enableProfiling` the wasm build prints each session's
 * Chrome-trace events as JSON lines when the session's profiling ends. This file parses those lines and
 * sums them into the parts of a step's time the performance issue names (matmuls by shape, elementwise,
 * reductions, data movement), so the profile bench reports onnxruntime's measurement, not ours.
 */
import { z } from 'zod';

const ShapeList = z.array(z.record(z.string(), z.array(z.number())));

/** One event of the trace; only the fields read here are checked. */
const TraceEvent = z.object({
  cat: z.string(),
  name: z.string(),
  dur: z.number(),
  args: z
    .object({
      op_name: z.string().optional(),
      input_type_shape: ShapeList.optional(),
      output_type_shape: ShapeList.optional(),
    })
    .loose(),
});
type TraceEvent = z.infer<typeof TraceEvent>;

/** The events of a trace's lines (other lines are skipped: the trace shares stdout with the program). */
export function parseTrace(lines: readonly string[]): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of lines) {
    const text = line.trim().replace(/,$/, '');
    if (!text.startsWith('{"cat"')) continue;
    events.push(TraceEvent.parse(JSON.parse(text)));
  }
  return events;
}

/** The events of each run: a run's kernel events are printed before its `model_run` event. */
export function splitRuns(events: readonly TraceEvent[]): { runMicros: number; kernels: TraceEvent[] }[] {
  const runs: { runMicros: number; kernels: TraceEvent[] }[] = [];
  let kernels: TraceEvent[] = [];
  for (const event of events) {
    if (event.cat === 'Node' && event.name.endsWith('_kernel_time')) kernels.push(event);
    else if (event.cat === 'Session' && event.name === 'model_run') {
      runs.push({ runMicros: event.dur, kernels });
      kernels = [];
    }
  }
  return runs;
}

export type OpCategory = 'matmul' | 'elementwise' | 'reduction' | 'normalisation' | 'movement' | 'other';

const CATEGORY: Record<string, OpCategory> = {
  MatMul: 'matmul',
  Gemm: 'matmul',
  FusedMatMul: 'matmul',
  FusedGemm: 'matmul',
  ReduceSum: 'reduction',
  ReduceMax: 'reduction',
  ReduceMean: 'reduction',
  CumSum: 'reduction',
  LayerNormalization: 'normalisation',
  SimplifiedLayerNormalization: 'normalisation',
  SkipLayerNormalization: 'normalisation',
  Softmax: 'normalisation',
  Transpose: 'movement',
  Reshape: 'movement',
  Slice: 'movement',
  Concat: 'movement',
  Gather: 'movement',
  GatherElements: 'movement',
  ScatterElements: 'movement',
  ScatterND: 'movement',
  Expand: 'movement',
  Unsqueeze: 'movement',
  Squeeze: 'movement',
  Pad: 'movement',
  Tile: 'movement',
  Split: 'movement',
};

const ELEMENTWISE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Exp',
  'Log',
  'Sqrt',
  'Pow',
  'Neg',
  'Where',
  'Cast',
  'Less',
  'Equal',
  'Greater',
  'Max',
  'Min',
  'Relu',
  'Gelu',
  'FastGelu',
  'BiasGelu',
  'Erf',
  'Tanh',
  'Sigmoid',
  'Sum',
  'Reciprocal',
  'Abs',
  'Sign',
  'Not',
  'And',
  'Or',
  'QuickGelu',
  'Silu',
]);

export function categoryOf(op: string): OpCategory {
  return CATEGORY[op] ?? (ELEMENTWISE.has(op) ? 'elementwise' : 'other');
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

/**
 * 2·k·|output| of a (batched, possibly transposed) product from its operand shapes alone: with both
 * operands batched |A|·|B| = k² · |out| · batch, with one broadcast (rank 2) |A|·|B| = k² · |out|,
 * whichever axes are transposed (FusedMatMul's transBatch layouts included).
 */
export function productFlops(a: readonly number[], b: readonly number[], out: readonly number[]): number {
  const batch = a.length > 2 && b.length > 2 ? sizeOf(out.slice(0, -2)) : 1;
  return 2 * Math.sqrt((sizeOf(a) * sizeOf(b)) / (sizeOf(out) * batch)) * sizeOf(out);
}

const shapesOf = (list: z.infer<typeof ShapeList> | undefined): number[][] =>
  (list ?? []).map((entry) => Object.values(entry)[0] ?? []);

export interface OpSummary {
  /** Op type, and for products the operand shapes (`256x256 @ 256x1024`). */
  key: string;
  category: OpCategory;
  micros: number;
  calls: number;
  /** Products only: FLOPs of those calls. */
  flops: number;
}

/** Kernel time summed by op type, products split by operand shapes. */
export function summariseKernels(kernels: readonly TraceEvent[]): OpSummary[] {
  const byKey = new Map<string, OpSummary>();
  for (const kernel of kernels) {
    const op = kernel.args.op_name ?? kernel.name;
    const category = categoryOf(op);
    const inputs = shapesOf(kernel.args.input_type_shape);
    const output = shapesOf(kernel.args.output_type_shape)[0] ?? [];
    const product = category === 'matmul' && inputs.length >= 2;
    const key = product ? `${op} ${inputs[0]!.join('x')} @ ${inputs[1]!.join('x')}` : op;
    const summary = byKey.get(key) ?? { key, category, micros: 0, calls: 0, flops: 0 };
    summary.micros += kernel.dur;
    summary.calls += 1;
    if (product) summary.flops += productFlops(inputs[0]!, inputs[1]!, output);
    byKey.set(key, summary);
  }
  return [...byKey.values()].sort((x, y) => y.micros - x.micros);
}
