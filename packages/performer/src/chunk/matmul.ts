import * as ort from 'onnxruntime-web';
import { GraphBuilder } from '../onnx/graph.js';
import { configureThreads } from './runner.js';

/**
 * fp32 matmul throughput of onnxruntime-web on this machine, in GFLOP/s: the ceiling the chunk graphs are
 * compared with. Times repeated [n, n] @ [n, n] runs after a warm-up.
 */
export async function matmulPeakGflops(opts: { threads: number; n?: number }): Promise<number> {
  const n = opts.n ?? 512;
  configureThreads(opts.threads);
  const b = new GraphBuilder('matmul_peak');
  const x = b.input('x', 'float', [n, n]);
  const w = b.input('w', 'float', [n, n]);
  b.output(b.matmul(x, w), 'y');
  const session = await ort.InferenceSession.create(b.build(), { executionProviders: ['wasm'] });
  const data = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
  const feeds = { x: new ort.Tensor('float32', data, [n, n]), w: new ort.Tensor('float32', data, [n, n]) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const repeats = Math.max(5, Math.ceil(2e10 / (2 * n ** 3)));
  const started = performance.now();
  for (let i = 0; i < repeats; i++) await session.run(feeds);
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (2 * n ** 3 * repeats) / seconds / 1e9;
}
