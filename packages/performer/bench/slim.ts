/**
 * SLiM engine benchmark: peak memory and speed of one exact gradient step as the sequence grows, for the
 * chunked engine (slim-ort) and the same graphs run as one chunk of L (full-ort), plus the fp32 matmul
 * ceiling of onnxruntime-web (matmul-peak), one JSON object per line.
 *
 *   npm run bench:slim [-- --json] [-- --quick] [-- --model tiny|job|smollm2-135m-shapes] [-- --lora r]
 *                      [-- --lengths L,...] [-- --chunks C,...]
 *
 * `--chunks` adds a slim-ort row per chunk size at every length (choosing C per model: larger chunks make
 * larger matmuls and fewer runs, at C² more attention work per chunk).
 * Models: `tiny` (428 k parameters, the original rows), `job` (the default job's 3.2 M model) and
 * `smollm2-135m-shapes` (SmolLM2-135M's shapes with random weights: Llama family, 30 layers, GQA 9/3
 * heads, V = 49 152). `--lora r` trains rank-r adapters on q, k, v, o over the frozen model and adds a
 * full fine-tuning row at the first length where it fits. Every row names its trainable parameters and
 * the bytes one delta of them takes on the wire (the default job's top-k int8 at 5 %, and dense f32).
 *
 * Every (engine, L) runs in its own child process so peak memory is that measurement's alone: peak RSS is
 * the kernel's high-water mark (resourceUsage().maxRSS); peak heap is the largest JS heap in use plus the
 * size of onnxruntime's wasm linear memory (which only grows), sampled between session runs. Node's
 * `external` does not follow wasm memory growth, so the WebAssembly.Memory objects are caught as they are
 * constructed. The float64 reference gradient is computed after the measurement (it would otherwise own
 * the peak), for L ≤ 4096.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoraConfig, type ModelConfig } from '@slimswarm/protocol';
import { encodeDelta } from '@slimswarm/swarm';
import { z } from 'zod';
import { Command, Option } from 'commander';
import { parseCommandLineOrExit } from '@slimswarm/node-compat/cli';
import {
  ChunkRunner,
  configureThreads,
  createFullEngine,
  paramLayout,
  createSlimEngine,
  measureCeiling,
  flopsPerTokenOfStep,
  maxGradRelativeError,
  relativeError,
} from '../src/chunk/index.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams, paramCount } from '../src/model/params.js';
import { Rng } from '../src/model/random.js';
import { BENCH_MODELS, BENCH_MODEL_NAMES } from './models.js';
import { initTrainable, loraFrozen } from '../src/model/lora.js';
import { createNaiveEngine, naiveLossAndGrad } from '../src/naive/index.js';

class BenchChildError extends Error {
  override readonly name = 'BenchChildError';
}

const CONFIG = BENCH_MODELS.tiny;
/** The float64 reference gradient is computed only below this many parameters (memory and time). */
const REFERENCE_MAX_PARAMS = 5_000_000;
/** The targets of --lora: the attention projections, as LoLCATs adapts them. */
const LORA_TARGETS = ['q', 'k', 'v', 'o'] as const;
const CHUNK = 256;
const THREADS = 2;
const REFERENCE_MAX_LENGTH = 4096;
/** The default job's top-k fraction, for the wire size of a delta. */
const TOPK_FRACTION = 0.05;
/** The full engine's [H, L, L] score tensors (and their gradients) outgrow memory beyond this. */
const FULL_MAX_LENGTH = 4096;
/** Timed steps repeat until this long has passed (at least one step); --quick shortens it. */
const TIME_BUDGET_MS = { full: 8000, quick: 1000 };

const positiveList = (what: string) =>
  z
    .string()
    .regex(/^\d+(,\d+)*$/, `a comma-separated list of ${what}`)
    .transform((s) => s.split(',').map(Number))
    .pipe(
      z.array(
        z
          .number()
          .int()
          .min(1)
          .max(1 << 20),
      ),
    );

const Flags = z
  .object({
    json: z.boolean(),
    quick: z.boolean(),
    model: z.enum(BENCH_MODEL_NAMES),
    lora: z.coerce.number().int().min(1).max(1024).optional(),
    lengths: positiveList('lengths').optional(),
    /** Chunk sizes of the slim-ort rows (choosing C per model); the first is the one the other rows use. */
    chunks: positiveList('chunk sizes').default([CHUNK]),
    child: z.string().optional(),
  })
  .strict();

function parseFlags(argv: readonly string[]): z.infer<typeof Flags> {
  const program = new Command('bench:slim')
    .option('--json', 'JSON lines only', false)
    .option('--quick', 'a short subset of lengths and time budgets', false)
    .option('--lengths <L,...>', 'sequence lengths instead of the default ones')
    .option('--chunks <C,...>', `slim-ort chunk sizes, one row each (default ${CHUNK})`)
    .option('--model <name>', `the model: ${BENCH_MODEL_NAMES.join(', ')}`, 'tiny')
    .option(
      '--lora <rank>',
      'train rank-r LoRA adapters on q, k, v, o (alpha 2r) on the frozen model; full fine-tuning rows beside them where they fit',
    )
    // The parent runs every (engine, L) in a child process of its own, named by this flag.
    .addOption(new Option('--child <job>').hideHelp());
  return parseCommandLineOrExit(program, argv, Flags);
}

const Job = z
  .object({
    engine: z.enum(['slim-ort', 'full-ort']),
    model: z.enum(BENCH_MODEL_NAMES),
    lora: z.number().int().positive().nullable(),
    seqLen: z.number().int().positive(),
    /** slim-ort's chunk size (full-ort runs L as one chunk). */
    chunk: z.number().int().positive(),
    quick: z.boolean(),
  })
  .strict();
type Job = z.infer<typeof Job>;

const Row = z
  .object({
    engine: z.enum(['slim-ort', 'full-ort']),
    model: z.enum(BENCH_MODEL_NAMES),
    lora: z.number().int().nullable(),
    seqLen: z.number().int(),
    chunk: z.number().int(),
    params: z.number().int(),
    /** What the optimiser holds and a delta carries: every parameter, or the LoRA adapters. */
    trainableParams: z.number().int(),
    /** One delta of the trainable tensors through the default job's codec (top-k int8 at 5 %) and dense. */
    wireBytesPerDelta: z.number().int(),
    wireBytesDense: z.number().int(),
    peakRssBytes: z.number(),
    peakHeapBytes: z.number(),
    msPerStep: z.number(),
    tokensPerSec: z.number(),
    flopsPerToken: z.number(),
    gflops: z.number(),
    /** gflops over the same run's matmul ceiling (filled in by the parent, which measured it). */
    ceilingShare: z.number().nullable(),
    maxGradRelErr: z.number().nullable(),
  })
  .strict();
type Row = z.infer<typeof Row>;

interface CeilingRow {
  engine: 'ceiling';
  matmulGflops: number;
  bandwidthGBs: number;
  perShape: { shape: string; gflops: number }[];
}

function sequence(config: ModelConfig, length: number): Int32Array {
  const rng = new Rng(config.seed, `bench/${length}`);
  return Int32Array.from({ length: length + 1 }, () => Math.floor(rng.uniform() * config.vocabSize));
}

/** The part of WebAssembly.Memory used here (the ES2023 lib has no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** Records every WebAssembly.Memory created from now on (onnxruntime creates its heap lazily). */
function watchWasmMemories(): WasmMemory[] {
  const memories: WasmMemory[] = [];
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: unknown) => WasmMemory } })
    .WebAssembly;
  wasm.Memory = new Proxy(wasm.Memory, {
    construct(target, args: [unknown]) {
      const memory = Reflect.construct(target, args) as WasmMemory;
      memories.push(memory);
      return memory;
    },
  });
  return memories;
}

/** A delta of `size` values through the default job's codec and as dense f32, in bytes of payload. */
function wireBytes(size: number): { topk: number; dense: number } {
  const bytes = (codec: 'topk-int8' | 'dense-f32'): number =>
    Object.values(encodeDelta(new Float32Array(size), { codec, topkFraction: TOPK_FRACTION })).reduce(
      (n, t) => n + t.data.byteLength,
      0,
    );
  return { topk: bytes('topk-int8'), dense: bytes('dense-f32') };
}

async function measure(job: Job): Promise<Row> {
  const { engine: kind, seqLen, quick } = job;
  const config = BENCH_MODELS[job.model];
  const memories = watchWasmMemories();
  let peakHeap = 0;
  const sample = (): void => {
    const wasmBytes = memories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed + wasmBytes);
  };
  const sampler = setInterval(sample, 2);
  const lora =
    job.lora === null
      ? undefined
      : LoraConfig.parse({ rank: job.lora, alpha: 2 * job.lora, targets: LORA_TARGETS });
  // The base is held by the engine only (resident in onnxruntime's heap): the bench drops its arrays.
  const frozen = lora ? { lora, frozen: loraFrozen(config, lora, initParams(config)) } : undefined;
  const engine =
    kind === 'slim-ort'
      ? await createSlimEngine(config, { chunk: job.chunk, threads: THREADS }, frozen)
      : await createFullEngine(config, { threads: THREADS }, frozen);
  const reference = paramCount(config) <= REFERENCE_MAX_PARAMS && seqLen <= REFERENCE_MAX_LENGTH;
  const referenceFrozen = reference ? frozen : undefined;
  if (frozen && !reference) frozen.frozen = {};
  const params = lora ? initTrainable(config, lora) : initParams(config);
  const features = drawFeatures(config, 0);
  const tokens = sequence(config, seqLen);
  // Warm-up: sessions are created and the wasm heap grows to its steady size (SLiM's chunk shapes are
  // fixed, so two chunks suffice; the full engine's graph depends on L).
  const warmLength = kind === 'slim-ort' ? Math.min(seqLen, 2 * job.chunk) : seqLen;
  await engine.lossAndGrad(params, tokens.subarray(0, warmLength + 1), features);
  // The fastest timed step: the cores are shared, and the minimum is the least disturbed measurement.
  let msPerStep = Number.POSITIVE_INFINITY;
  let result;
  const started = performance.now();
  do {
    const stepStarted = performance.now();
    result = await engine.lossAndGrad(params, tokens, features);
    msPerStep = Math.min(msPerStep, performance.now() - stepStarted);
  } while (performance.now() - started < (quick ? TIME_BUDGET_MS.quick : TIME_BUDGET_MS.full));
  sample();
  clearInterval(sampler);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  await engine.dispose();

  let maxGradRelErr: number | null = null;
  if (reference) {
    const naive = createNaiveEngine(config, referenceFrozen);
    maxGradRelErr = maxGradRelativeError(
      result.grads,
      (await naive.lossAndGrad(params, tokens, features)).grads,
    ).error;
  }
  const chunk = kind === 'slim-ort' ? job.chunk : seqLen;
  const flopsPerToken = flopsPerTokenOfStep(config, kind, chunk, lora);
  const tokensPerSec = (seqLen * 1000) / msPerStep;
  const trainableParams = Object.values(params).reduce((n, p) => n + p.length, 0);
  const wire = wireBytes(trainableParams);
  return Row.parse({
    engine: kind,
    model: job.model,
    lora: job.lora,
    seqLen,
    chunk,
    params: paramCount(config),
    trainableParams,
    wireBytesPerDelta: wire.topk,
    wireBytesDense: wire.dense,
    peakRssBytes,
    peakHeapBytes: peakHeap,
    msPerStep,
    tokensPerSec,
    flopsPerToken,
    gflops: (flopsPerToken * tokensPerSec) / 1e9,
    ceilingShare: null,
    maxGradRelErr,
  });
}

const RebuildRow = z
  .object({
    engine: z.literal('state-rebuild'),
    seqLen: z.number().int(),
    chunk: z.number().int(),
    /** Worst chunk: entering state rebuilt by subtraction vs the one carried forward (fp32 both). */
    maxStateRelErr: z.number(),
    /** SLiM gradients with subtraction vs with every entering state stored. */
    subtractVsStoredGradRelErr: z.number(),
    /** Against the float64 reference (L ≤ 4096). */
    subtractGradRelErr: z.number().nullable(),
    storedGradRelErr: z.number().nullable(),
  })
  .strict();
type RebuildRow = z.infer<typeof RebuildRow>;

/**
 * How exact is rebuilding S_in = S_out − Δ (the engine's scheme: fp64 carried states, fp32 graphs)? One
 * forward keeps every entering state; the backward sweep then runs twice, rebuilding states by
 * subtraction and from the kept states.
 */
async function rebuildStudy(seqLen: number): Promise<RebuildRow> {
  configureThreads(THREADS);
  const runner = new ChunkRunner(CONFIG, CHUNK, 'wasm');
  const params = initParams(CONFIG);
  const features = drawFeatures(CONFIG, 0);
  const tokens = sequence(CONFIG, seqLen);
  const seq = runner.prepare(params, tokens, features);
  const chunks = Math.ceil(seqLen / CHUNK);
  const range = (k: number): [number, number] => [k * CHUNK, Math.min((k + 1) * CHUNK, seqLen)];
  const entering: Float64Array[] = [new Float64Array(runner.stateSize)];
  for (let k = 0; k < chunks; k++) {
    const [start, end] = range(k);
    entering.push(await runner.advance(seq, start, end, entering[k]!));
  }
  const sweep = async (subtract: boolean) => {
    const grads = new Float64Array(runner.paramCount);
    let stateGrad: Float32Array = new Float32Array(runner.stateSize);
    let state = entering[chunks]!;
    let maxStateRelErr = 0;
    for (let k = chunks - 1; k >= 0; k--) {
      const [start, end] = range(k);
      const from =
        subtract && k > 0
          ? { kind: 'subtract' as const, stateOut: state }
          : { kind: 'given' as const, stateIn: entering[k]! };
      const step = await runner.backward(seq, start, end, from, stateGrad, 1 / seqLen);
      if (k > 0) maxStateRelErr = Math.max(maxStateRelErr, relativeError(step.stateIn, entering[k]!));
      for (let i = 0; i < grads.length; i++) grads[i]! += step.grads[i]!;
      state = step.stateIn;
      stateGrad = step.stateGradIn;
    }
    const named: Record<string, Float64Array> = {};
    for (const slot of paramLayout(CONFIG).slots) {
      named[slot.name] = grads.subarray(slot.offset, slot.offset + slot.size);
    }
    return { grads: named, maxStateRelErr };
  };
  const subtracted = await sweep(true);
  const stored = await sweep(false);
  await runner.dispose();
  const reference =
    seqLen <= REFERENCE_MAX_LENGTH ? naiveLossAndGrad(CONFIG, params, tokens, features).grads : undefined;
  return RebuildRow.parse({
    engine: 'state-rebuild',
    seqLen,
    chunk: CHUNK,
    maxStateRelErr: subtracted.maxStateRelErr,
    subtractVsStoredGradRelErr: maxGradRelativeError(subtracted.grads, stored.grads).error,
    subtractGradRelErr: reference ? maxGradRelativeError(subtracted.grads, reference).error : null,
    storedGradRelErr: reference ? maxGradRelativeError(stored.grads, reference).error : null,
  });
}

function runChild(job: Job): Promise<Row> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, '--child', JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0)
        reject(new BenchChildError(`${job.engine} ${job.model} L=${job.seqLen} exited with ${code}`));
      else resolve(Row.parse(JSON.parse(out)));
    });
  });
}

const MIB = 2 ** 20;

const exponential = (x: number | null): string => (x === null ? '-' : x.toExponential(1));

function describe(row: Row | RebuildRow | CeilingRow): string {
  if (row.engine === 'ceiling') {
    const shapes = row.perShape.map((r) => `${r.shape} ${r.gflops.toFixed(1)}`).join(', ');
    return `ceiling  matmul ${row.matmulGflops.toFixed(1)} GFLOP/s (${shapes}); stream ${row.bandwidthGBs.toFixed(1)} GB/s`;
  }
  if (row.engine === 'state-rebuild') {
    return [
      `state-rebuild L=${row.seqLen} C=${row.chunk}:`,
      `rebuilt state rel err ${exponential(row.maxStateRelErr)},`,
      `grad rel err subtract vs stored ${exponential(row.subtractVsStoredGradRelErr)},`,
      `vs fp64: subtract ${exponential(row.subtractGradRelErr)}, stored ${exponential(row.storedGradRelErr)}`,
    ].join(' ');
  }
  return [
    row.engine.padEnd(9),
    `${row.model}${row.lora === null ? '' : ` LoRA r=${row.lora}`}`.padEnd(30),
    `L=${row.seqLen}`.padEnd(8),
    `C=${row.chunk}`.padEnd(8),
    `rss ${(row.peakRssBytes / MIB).toFixed(0)} MiB`.padEnd(14),
    `heap ${(row.peakHeapBytes / MIB).toFixed(0)} MiB`.padEnd(15),
    `${row.msPerStep.toFixed(0)} ms/step`.padEnd(14),
    `${row.tokensPerSec.toFixed(0)} tok/s`.padEnd(12),
    `${row.gflops.toFixed(1)} GFLOP/s`.padEnd(15),
    `${row.ceilingShare === null ? '-' : (100 * row.ceilingShare).toFixed(0)} % of ceiling`.padEnd(15),
    `${(row.wireBytesPerDelta / 1024).toFixed(0)} KiB/delta`.padEnd(15),
    `grad rel err ${exponential(row.maxGradRelErr)}`,
  ].join(' ');
}

const flags = parseFlags(process.argv.slice(2));
if (flags.child !== undefined) {
  process.stdout.write(JSON.stringify(await measure(Job.parse(JSON.parse(flags.child)))));
} else {
  const { quick } = flags;
  // SmolLM2's shapes: the lengths the issue names (the full engine's [H, L, L] scores do not fit).
  const big = flags.model === 'smollm2-135m-shapes';
  const lengths =
    flags.lengths ??
    (big ? (quick ? [256] : [1024, 4096, 16384]) : quick ? [256, 1024] : [1024, 4096, 16384, 65536]);
  const lora = flags.lora ?? null;
  const [chunk, ...otherChunks] = flags.chunks as [number, ...number[]];
  const job = (engine: Job['engine'], seqLen: number, rank = lora, c = chunk): Job => ({
    engine,
    model: flags.model,
    lora: rank,
    seqLen,
    chunk: c,
    quick,
  });
  const print = (row: Row | RebuildRow | CeilingRow): void => {
    console.log(flags.json ? JSON.stringify(row) : describe(row));
  };
  const ceiling = await measureCeiling({ threads: THREADS, minSeconds: quick ? 0.3 : 1.2 });
  print({
    engine: 'ceiling',
    matmulGflops: ceiling.matmulGflops,
    bandwidthGBs: ceiling.bandwidthGBs,
    perShape: ceiling.perShape.map(({ shape, gflops }) => ({
      shape: `${shape.batch ? `${shape.batch}×` : ''}${shape.m}×${shape.k}×${shape.n}`,
      gflops,
    })),
  });
  const withShare = (row: Row): Row => ({ ...row, ceilingShare: row.gflops / ceiling.matmulGflops });
  for (const seqLen of lengths) {
    print(withShare(await runChild(job('slim-ort', seqLen))));
    for (const c of otherChunks) print(withShare(await runChild(job('slim-ort', seqLen, lora, c))));
    // Full fine-tuning beside LoRA, at the first length: where it fits at all (params, grads and AdamW).
    if (lora !== null && seqLen === lengths[0]) {
      try {
        print(withShare(await runChild(job('slim-ort', seqLen, null))));
      } catch (e) {
        console.log(
          JSON.stringify({ engine: 'slim-ort', model: flags.model, lora: null, seqLen, failed: String(e) }),
        );
      }
    }
    if (!big && seqLen <= FULL_MAX_LENGTH) print(withShare(await runChild(job('full-ort', seqLen))));
  }
  if (flags.model === 'tiny' && lora === null) {
    for (const seqLen of quick ? [1024] : [4096, 65536]) print(await rebuildStudy(seqLen));
  }
}
