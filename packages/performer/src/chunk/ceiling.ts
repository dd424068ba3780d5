/**
 * What this machine's onnxruntime-web can do at best, measured the way the engine runs: the same thread
 * settings, one session per shape reused across runs, inputs made once. The chunk graphs' GFLOP/s are
 * reported as a share of the matmul ceiling, and their elementwise part against the bandwidth ceiling.
 *
 * Each shape is timed for at least `minSeconds` after a warm-up, and the ceiling is the best shape: a
 * single square shape (the old measurement) can land below the rate the engine reaches on its own
 * shapes, which would put utilisation above 100 %.
 */
import * as ort from 'onnxruntime-web';
import { GraphBuilder } from '../onnx/graph.js';
import { configureThreads } from './runner.js';

/** One batched product [batch, m, k] @ [batch, k, n]. */
export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  batch?: number;
}

export interface ShapeRate {
  shape: MatmulShape;
  gflops: number;
}

export interface Ceiling {
  /** Best matmul rate over the shapes, GFLOP/s. */
  matmulGflops: number;
  perShape: ShapeRate[];
  /** Streaming elementwise rate, GB/s of memory traffic (read a, read b, write, read back for the sum). */
  bandwidthGBs: number;
}

/** The shapes the issue names, plus the default job's chunk shapes (C = 256, D = 256, F = 1024, M = 64). */
export const CEILING_SHAPES: readonly MatmulShape[] = [
  { m: 256, k: 512, n: 512 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
  { m: 256, k: 256, n: 1024 },
  { m: 256, k: 1024, n: 256 },
  { m: 256, k: 256, n: 256 },
  { m: 256, k: 64, n: 256, batch: 4 },
];

export interface CeilingOptions {
  threads: number;
  shapes?: readonly MatmulShape[];
  /** Timed seconds per shape (after the warm-up); at least this, whole runs. */
  minSeconds?: number;
  /** Elements of each operand of the bandwidth graph (default 8 Mi: 32 MiB, well past every cache). */
  streamElements?: number;
}

/** Runs `session` until `minSeconds` have passed; returns seconds per run. */
async function timeRuns(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  minSeconds: number,
): Promise<number> {
  for (let i = 0; i < 2; i++) await session.run(feeds);
  let runs = 0;
  const started = performance.now();
  do {
    await session.run(feeds);
    runs++;
  } while (performance.now() - started < minSeconds * 1000);
  return (performance.now() - started) / 1000 / runs;
}

function filled(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i));
}

async function matmulRate(shape: MatmulShape, minSeconds: number): Promise<number> {
  const { m, k, n, batch = 1 } = shape;
  const b = new GraphBuilder('ceiling_matmul');
  const lead = batch > 1 ? [batch] : [];
  const x = b.input('x', 'float', [...lead, m, k]);
  const w = b.input('w', 'float', [...lead, k, n]);
  b.output(b.matmul(x, w), 'y');
  const session = await ort.InferenceSession.create(b.build(), { executionProviders: ['wasm'] });
  const feeds = {
    x: new ort.Tensor('float32', filled(batch * m * k), [...lead, m, k]),
    w: new ort.Tensor('float32', filled(batch * k * n), [...lead, k, n]),
  };
  const seconds = await timeRuns(session, feeds, minSeconds);
  await session.release();
  return (2 * batch * m * k * n) / seconds / 1e9;
}

/**
 * Σ(a + b) over two resident initializers: no per-run input copy (that is a different cost, measured by
 * the engine's own profile), one scalar out. Traffic per run: read a and b, write a + b, read it back.
 */
async function bandwidth(elements: number, minSeconds: number): Promise<number> {
  const b = new GraphBuilder('ceiling_stream');
  const tick = b.input('tick', 'float', [1]);
  const a = b.constant(filled(elements), [elements]);
  const c = b.constant(filled(elements).reverse(), [elements]);
  b.output(b.add(b.reduceSum(b.add(a, c), [0]), tick), 'y');
  // Without this the runtime folds the constant subgraph at load time and times nothing.
  const session = await ort.InferenceSession.create(b.build(), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'disabled',
  });
  const seconds = await timeRuns(
    session,
    { tick: new ort.Tensor('float32', Float32Array.of(0), [1]) },
    minSeconds,
  );
  await session.release();
  return (4 * 4 * elements) / seconds / 1e9;
}

export async function measureCeiling(opts: CeilingOptions): Promise<Ceiling> {
  configureThreads(opts.threads);
  const minSeconds = opts.minSeconds ?? 1.2;
  const perShape: ShapeRate[] = [];
  for (const shape of opts.shapes ?? CEILING_SHAPES) {
    perShape.push({ shape, gflops: await matmulRate(shape, minSeconds) });
  }
  return {
    matmulGflops: Math.max(...perShape.map((r) => r.gflops)),
    perShape,
    bandwidthGBs: await bandwidth(opts.streamElements ?? 8 << 20, minSeconds),
  };
}
