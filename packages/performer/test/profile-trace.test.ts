import { describe, expect, it } from 'vitest';
import { parseTrace, productFlops, splitRuns, summariseKernels } from '../bench/profile-trace.js';

/** Lines as the wasm build prints them (one event per line, comma-terminated, inside a JSON array). */
const kernel = (op: string, inputs: number[][], output: number[], dur: number): string =>
  `{"cat" : "Node","pid" :42,"tid" :1,"dur" :${dur},"ts" :1,"ph" : "X","name" :"n0_${op}_kernel_time","args" : {"op_name" : "${op}","input_type_shape" : [${inputs.map((s) => `{"float":[${s.join(',')}]}`).join(',')}],"output_type_shape" : [{"float":[${output.join(',')}]}],"provider" : "CPUExecutionProvider"}},`;
const session = (name: string, dur: number): string =>
  `{"cat" : "Session","pid" :42,"tid" :1,"dur" :${dur},"ts" :1,"ph" : "X","name" :"${name}","args" : {}},`;

describe('profile trace', () => {
  it('counts 2·m·k·n for plain, broadcast and transposed-batch products', () => {
    expect(productFlops([256, 128], [128, 512], [256, 512])).toBe(2 * 256 * 128 * 512);
    expect(productFlops([4, 256, 256], [4, 256, 33], [4, 256, 33])).toBe(2 * 4 * 256 * 256 * 33);
    // FusedMatMul with transBatchB: B is [C, H, E] for an [H, C, E]ᵀ operand.
    expect(productFlops([4, 256, 64], [256, 4, 64], [4, 256, 256])).toBe(2 * 4 * 256 * 64 * 256);
    expect(productFlops([2, 8, 16], [16, 4], [2, 8, 4])).toBe(2 * 2 * 8 * 16 * 4);
  });

  it('splits kernels into runs and sums them by op and product shape', () => {
    const lines = [
      '[',
      'a line of the program, not of the trace',
      session('model_loading_array', 900),
      kernel('Gemm', [[256, 128], [128, 512], [512]], [256, 512], 100),
      kernel('Mul', [[4], [4]], [4], 7),
      session('SequentialExecutor::Execute', 110),
      session('model_run', 120),
      kernel('Gemm', [[256, 128], [128, 512], [512]], [256, 512], 300),
      kernel('Mul', [[4], [4]], [4], 5),
      session('model_run', 320),
      ']',
    ];
    const runs = splitRuns(parseTrace(lines));
    expect(runs.map((r) => r.runMicros)).toEqual([120, 320]);
    expect(runs.map((r) => r.kernels.length)).toEqual([2, 2]);
    const ops = summariseKernels(runs.flatMap((r) => r.kernels));
    expect(ops).toEqual([
      {
        key: 'Gemm 256x128 @ 128x512',
        category: 'matmul',
        micros: 400,
        calls: 2,
        flops: 2 * 2 * 256 * 128 * 512,
      },
      { key: 'Mul', category: 'elementwise', micros: 12, calls: 2, flops: 0 },
    ]);
  });

  it('refuses a trace line that is not an event', () => {
    expect(() => parseTrace(['{"cat" : "Node", "dur": "long"}'])).toThrow();
  });
});
