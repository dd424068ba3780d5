/**
 * Where a SLiM gradient step's time goes (issue #15 part 3), one JSON object per line:
 *
 *   npm run bench:profile [-- --json] [-- --quick] [-- --model tiny|job] [-- --seq-len L] [-- --chunk C]
 *
 * Each measurement runs in a child process of its own (onnxruntime reads its thread count once):
 *
 * - `timed` children at 1 and 2 threads: the real engine (createSlimEngine), every session.run timed from
 *   JS, so a step splits into run() wall time per graph kind and the JS between runs (feeds, the fp64 state
 *   carry, gradient sums, checks); also the bytes fed in and read out per step;
 * - a `traced` child at 1 thread: the same step with onnxruntime's profiler on, so each run's wall time
 *   splits into the kernels (summed by op and, for products, by shape, with their GFLOP/s), the executor
 *   between kernels, and what run() costs around model_run (copying inputs into the wasm heap and outputs
 *   out of it, launching).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import { createSlimEngine, measureCeiling } from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { BENCH_MODELS, BENCH_MODEL_NAMES } from './models.js';
import { parseTrace, splitRuns, summariseKernels, type OpCategory } from './profile-trace.js';

class ProfileChildError extends Error {
  override readonly name = 'ProfileChildError';
}

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    model: z.enum(BENCH_MODEL_NAMES),
    seqLen: z.coerce
      .number()
      .int()
      .min(1)
      .max(1 << 20),
    chunk: z.coerce.number().int().min(1).max(65_536),
    child: z.string().optional(),
  })
  .strict();

const Job = z
  .object({
    model: z.enum(BENCH_MODEL_NAMES),
    seqLen: z.number().int().positive(),
    chunk: z.number().int().positive(),
    threads: z.number().int().positive(),
    trace: z.boolean(),
    /** Turn off onnxruntime's MatmulTransposeFusion (the engine keeps it), for the A/B row. */
    noTransposeFusion: z.boolean(),
    steps: z.number().int().positive(),
  })
  .strict();
type Job = z.infer<typeof Job>;

const KIND = z.enum(['states', 'given', 'subtract', 'forward']);
type Kind = z.infer<typeof KIND>;

const RunTotals = z.object({ runs: z.number(), ms: z.number(), bytesIn: z.number(), bytesOut: z.number() });
const StepProfile = z.object({ stepMs: z.number(), byKind: z.partialRecord(KIND, RunTotals) });
type StepProfile = z.infer<typeof StepProfile>;

const ChildResult = z.object({ steps: z.array(StepProfile) });
type ChildResult = z.infer<typeof ChildResult>;

/** Which graph a session runs, from its outputs (graphs.ts: states → Δ; given/subtract → grads …). */
function kindOf(session: ort.InferenceSession): Kind {
  const outputs = new Set(session.outputNames);
  if (outputs.has('grads')) return outputs.has('contribution') ? 'subtract' : 'given';
  return outputs.has('contribution') ? 'states' : 'forward';
}

const bytesOf = (tensors: Record<string, ort.Tensor>): number =>
  Object.values(tensors).reduce((n, t) => n + (t.data as ArrayBufferView).byteLength, 0);

const TRACE_MARK = '#trace ';
const RESULT_MARK = '#result ';

async function child(job: Job): Promise<void> {
  const sessions: ort.InferenceSession[] = [];
  if (job.trace || job.noTransposeFusion) {
    type Create = (
      model: Uint8Array,
      options?: ort.InferenceSession.SessionOptions,
    ) => Promise<ort.InferenceSession>;
    const create = (ort.InferenceSession.create as Create).bind(ort.InferenceSession);
    (ort.InferenceSession as unknown as { create: Create }).create = async (model, options) => {
      const session = await create(model, {
        ...options,
        enableProfiling: job.trace,
        ...(job.noTransposeFusion
          ? { extra: { optimization: { disable_specified_optimizers: 'MatmulTransposeFusion' } } }
          : {}),
      });
      if (job.trace) sessions.push(session);
      return session;
    };
  }
  let current: StepProfile = { stepMs: 0, byKind: {} };
  // The class behind the factory type: every session the engine makes runs through this method.
  const proto = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const run = proto.run;
  proto.run = async function (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>) {
    const started = performance.now();
    const out = await (
      run as (feeds: ort.InferenceSession.FeedsType) => Promise<ort.InferenceSession.ReturnType>
    ).call(this, feeds);
    const totals = (current.byKind[kindOf(this)] ??= { runs: 0, ms: 0, bytesIn: 0, bytesOut: 0 });
    totals.runs++;
    totals.ms += performance.now() - started;
    totals.bytesIn += bytesOf(feeds);
    totals.bytesOut += bytesOf(out);
    return out;
  } as typeof proto.run;

  const config = BENCH_MODELS[job.model];
  const engine = await createSlimEngine(config, { chunk: job.chunk, threads: job.threads });
  const params = initParams(config);
  const features = drawFeatures(config, 0);
  const rng = new Rng(config.seed, `profile/${job.seqLen}`);
  const tokens = Int32Array.from({ length: job.seqLen + 1 }, () =>
    Math.floor(rng.uniform() * config.vocabSize),
  );
  const steps: StepProfile[] = [];
  for (let s = 0; s <= job.steps; s++) {
    current = { stepMs: 0, byKind: {} };
    const started = performance.now();
    await engine.lossAndGrad(params, tokens, features);
    current.stepMs = performance.now() - started;
    if (s > 0) steps.push(current); // step 0 warms up (sessions, heap growth)
  }
  for (const session of sessions) {
    // The wasm build prints the trace on stdout as the session's profiling ends.
    process.stdout.write(`${TRACE_MARK}${kindOf(session)}\n`);
    session.endProfiling();
  }
  await engine.dispose();
  process.stdout.write(`${RESULT_MARK}${JSON.stringify({ steps } satisfies ChildResult)}\n`);
}

interface ChildOutput {
  result: ChildResult;
  /** Trace lines per graph kind. */
  traces: Map<Kind, string[]>;
}

/** A traced child that prints nothing for this long has hung (seen at the job model: see docs). */
const TRACE_TIMEOUT_MS = 10 * 60_000;

function runChild(job: Job): Promise<ChildOutput> {
  const script = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, [...process.execArgv, script, '--child', JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  return new Promise((resolve, reject) => {
    const timer = job.trace ? setTimeout(() => proc.kill('SIGKILL'), TRACE_TIMEOUT_MS) : undefined;
    proc.on('error', reject);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new ProfileChildError(`${JSON.stringify(job)} exited with ${code}`));
      const traces = new Map<Kind, string[]>();
      let result: ChildResult | undefined;
      let section: string[] | undefined;
      for (const line of out.split('\n')) {
        if (line.startsWith(TRACE_MARK))
          traces.set(KIND.parse(line.slice(TRACE_MARK.length)), (section = []));
        else if (line.startsWith(RESULT_MARK))
          result = ChildResult.parse(JSON.parse(line.slice(RESULT_MARK.length)));
        else section?.push(line);
      }
      if (!result) reject(new ProfileChildError(`${JSON.stringify(job)} printed no result`));
      else resolve({ result, traces });
    });
  });
}

const fastest = (steps: readonly StepProfile[]): StepProfile =>
  steps.reduce((best, s) => (s.stepMs < best.stepMs ? s : best));

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);

/** What every row says of the child it came from. */
const jobFields = (job: Job) => ({
  model: job.model,
  seqLen: job.seqLen,
  chunk: job.chunk,
  threads: job.threads,
});

/** A timed step: run() per kind, the JS between runs, bytes through the heap boundary. */
function timedRow(job: Job, step: StepProfile) {
  const kinds = Object.values(step.byKind);
  const runMs = sum(kinds.map((k) => k.ms));
  return {
    engine: 'profile-timed',
    ...jobFields(job),
    msPerStep: step.stepMs,
    tokensPerSec: (job.seqLen * 1000) / step.stepMs,
    runMs,
    jsMs: step.stepMs - runMs,
    byKind: step.byKind,
    mbInPerStep: sum(kinds.map((k) => k.bytesIn)) / 1e6,
    mbOutPerStep: sum(kinds.map((k) => k.bytesOut)) / 1e6,
  };
}

/** The traced step: its last step's runs of every session, split into kernels, executor and run() cost. */
function tracedRow(job: Job, output: ChildOutput, matmulCeiling: number) {
  const step = output.result.steps.at(-1)!;
  const runs = [...output.traces].flatMap(([kind, lines]) =>
    splitRuns(parseTrace(lines)).slice(-(step.byKind[kind]?.runs ?? 0)),
  );
  const modelRunMs = sum(runs.map((r) => r.runMicros)) / 1000;
  const ops = summariseKernels(runs.flatMap((r) => r.kernels));
  const kernelMs = sum(ops.map((o) => o.micros)) / 1000;
  const byCategory: Partial<Record<OpCategory, number>> = {};
  for (const op of ops) byCategory[op.category] = (byCategory[op.category] ?? 0) + op.micros / 1000;
  const runMs = sum(Object.values(step.byKind).map((k) => k.ms));
  const matmulFlops = sum(ops.map((o) => o.flops));
  return {
    engine: 'profile-traced',
    ...jobFields(job),
    msPerStep: step.stepMs,
    /** Parts of the step, ms: kernels by category, the executor between them, run() around model_run, JS. */
    parts: {
      ...byCategory,
      executor: modelRunMs - kernelMs,
      runOverhead: runMs - modelRunMs,
      js: step.stepMs - runMs,
    },
    matmulGflops: matmulFlops / ((byCategory.matmul ?? 0) * 1e6),
    /** Products at the same run's matmul ceiling would take this long. */
    matmulMsAtCeiling: matmulFlops / (matmulCeiling * 1e6),
    ops: ops.slice(0, 16).map((o) => ({
      op: o.key,
      ms: o.micros / 1000,
      calls: o.calls,
      ...(o.flops > 0 ? { gflops: o.flops / (o.micros * 1e3) } : {}),
    })),
  };
}

function parseFlags(argv: readonly string[]) {
  const program = new Command('bench:profile')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'the tiny model at L = 1024, one timed step', false)
    .option('--model <name>', `the model: ${BENCH_MODEL_NAMES.join(', ')}`, 'job')
    .option('--seq-len <L>', 'tokens per step', '4096')
    .option('--chunk <C>', 'tokens per chunk', '256')
    .addOption(new Option('--child <job>').hideHelp());
  return parseCommandLineOrExit(program, argv, Flags);
}

const flags = parseFlags(process.argv.slice(2));
if (flags.child !== undefined) {
  await child(Job.parse(JSON.parse(flags.child)));
} else {
  const quick = flags.quick;
  const base = {
    model: quick ? ('tiny' as const) : flags.model,
    seqLen: quick ? 1024 : flags.seqLen,
    chunk: flags.chunk,
    steps: quick ? 1 : 3,
  };
  const print = (row: object, text: string): void => console.log(flags.json ? JSON.stringify(row) : text);
  const ceiling = await measureCeiling({ threads: 2, minSeconds: quick ? 0.3 : 1.2 });
  print(
    { engine: 'ceiling', matmulGflops: ceiling.matmulGflops, bandwidthGBs: ceiling.bandwidthGBs },
    `ceiling  matmul ${ceiling.matmulGflops.toFixed(1)} GFLOP/s, stream ${ceiling.bandwidthGBs.toFixed(1)} GB/s`,
  );
  const timed: ReturnType<typeof timedRow>[] = [];
  for (const threads of [1, 2]) {
    const job = { ...base, threads, trace: false, noTransposeFusion: false };
    const row = timedRow(job, fastest((await runChild(job)).result.steps));
    timed.push(row);
    print(
      row,
      `timed    ${threads} thread(s): ${row.msPerStep.toFixed(0)} ms/step, ${row.tokensPerSec.toFixed(0)} tok/s; run() ${row.runMs.toFixed(0)} ms, JS ${row.jsMs.toFixed(0)} ms; ${row.mbInPerStep.toFixed(0)} MB in, ${row.mbOutPerStep.toFixed(0)} MB out`,
    );
  }
  const speedup = timed[0]!.msPerStep / timed[1]!.msPerStep;
  // Folding head transposes into products (onnxruntime's default, which the engine keeps) against not
  // folding them, children alternating so that load on the shared cores falls on both alike.
  const ab = { engine: [] as number[], unfused: [] as number[] };
  for (let i = 0; i < (quick ? 1 : 2); i++) {
    for (const noTransposeFusion of [true, false]) {
      const job = { ...base, threads: 2, trace: false, noTransposeFusion };
      ab[noTransposeFusion ? 'unfused' : 'engine'].push(fastest((await runChild(job)).result.steps).stepMs);
    }
  }
  const abRow = {
    engine: 'transpose-fusion',
    model: base.model,
    seqLen: base.seqLen,
    msPerStepEngine: Math.min(...ab.engine),
    msPerStepUnfused: Math.min(...ab.unfused),
    /** How much faster the engine's setting is. */
    speedup: Math.min(...ab.unfused) / Math.min(...ab.engine),
  };
  print(
    abRow,
    `MatmulTransposeFusion on (engine) ${abRow.msPerStepEngine.toFixed(0)} ms vs off ${abRow.msPerStepUnfused.toFixed(0)} ms: ${abRow.speedup.toFixed(2)}×`,
  );
  print(
    { engine: 'thread-scaling', model: base.model, seqLen: base.seqLen, speedup },
    `2 threads vs 1: ${speedup.toFixed(2)}×`,
  );
  // One thread: with two the wasm build's endProfiling never returned (cause unknown; it also hung once at
  // one thread on the 3.2 M model), so the traced split is of a one-thread step.
  const tracedJob = { ...base, threads: 1, trace: true, noTransposeFusion: false };
  let traced: ChildOutput;
  try {
    traced = await runChild(tracedJob);
  } catch (e) {
    console.log(JSON.stringify({ engine: 'profile-traced', ...tracedJob, failed: String(e) }));
    process.exit(1);
  }
  const row = tracedRow(tracedJob, traced, ceiling.matmulGflops);
  const parts = Object.entries(row.parts)
    .map(([name, ms]) => `${name} ${ms.toFixed(0)} ms (${((100 * ms) / row.msPerStep).toFixed(0)} %)`)
    .join(', ');
  print(
    row,
    `traced   ${row.msPerStep.toFixed(0)} ms/step: ${parts}; products ${row.matmulGflops.toFixed(1)} GFLOP/s (${row.matmulMsAtCeiling.toFixed(0)} ms at the ceiling)`,
  );
  if (!flags.json) {
    for (const op of row.ops) {
      console.log(
        `  ${op.op.padEnd(48)} ${op.ms.toFixed(1).padStart(8)} ms ${String(op.calls).padStart(5)} calls ${op.gflops ? `${op.gflops.toFixed(1)} GFLOP/s` : ''}`,
      );
    }
  }
}
