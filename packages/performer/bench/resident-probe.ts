/**
 * Where LoRA's frozen base sits, measured: fed as graph inputs on every run (ChunkRunner 'inputs') or
 * resident, initializers of one session serving every graph kind through If ('resident'), at
 * SmolLM2-135M's shapes with rank-8 adapters on q, k, v, o, one gradient step at L = C = 256. Each way
 * runs in a child process of its own so peaks don't mix; peak RSS is /proc/self/status VmHWM.
 *
 *   node --expose-gc --conditions=@slimswarm/source --import tsx packages/performer/bench/resident-probe.ts [way …]
 *
 * Ways: fed, resident (the engine's two paths, three training kinds made up front as createSlimEngine
 * does), and single-session variants that show what onnxruntime does with constant weights:
 * given-fed, given-resident, given-resident-noprepack, given-resident-basic (one 'given' session).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { LoraConfig } from '@slimswarm/protocol';
import { ChunkRunner, chunkGraphBuilder, configureThreads } from '../src/chunk/index.js';
import { frozenInputName } from '../src/chunk/graphs.js';
import { drawFeatures } from '../src/model/features.js';
import { initParams } from '../src/model/params.js';
import { initTrainable, loraFrozen } from '../src/model/lora.js';
import { Rng } from '../src/model/random.js';
import { SMOLLM2_135M_SHAPES } from './smollm2-shapes.js';

const CONFIG = SMOLLM2_135M_SHAPES;
const LORA = LoraConfig.parse({ rank: 8, alpha: 16, targets: ['q', 'k', 'v', 'o'] });
const L = 256;
const C = 256;
const MIB = 2 ** 20;

function rss(): { hwm: number; rss: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)![1]) * 1024;
  return { hwm: kib('VmHWM') / MIB, rss: kib('VmRSS') / MIB };
}

const memories: { buffer: ArrayBuffer }[] = [];
const wasm = (
  globalThis as unknown as { WebAssembly: { Memory: new (d: unknown) => { buffer: ArrayBuffer } } }
).WebAssembly;
wasm.Memory = new Proxy(wasm.Memory, {
  construct(target, args: [unknown]) {
    const memory = Reflect.construct(target, args) as { buffer: ArrayBuffer };
    memories.push(memory);
    return memory;
  },
});
const heap = (): number => memories.reduce((n, m) => n + m.buffer.byteLength, 0) / MIB;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function engineWay(way: 'fed' | 'resident'): Promise<object> {
  configureThreads(2);
  let frozen: ReturnType<typeof loraFrozen> | undefined = loraFrozen(CONFIG, LORA, initParams(CONFIG));
  const runner = new ChunkRunner(
    CONFIG,
    C,
    'wasm',
    { lora: LORA, frozen },
    way === 'fed' ? 'inputs' : 'resident',
  );
  const t0 = performance.now();
  await runner.createSessions(['states', 'given', 'subtract']);
  const createSeconds = (performance.now() - t0) / 1000;
  // The engine's contract on the resident path: the caller may drop the frozen arrays now.
  if (way === 'resident') frozen = undefined;
  gc();
  const created = { ...rss(), heap: heap() };
  const params = initTrainable(CONFIG, LORA);
  const rng = new Rng(7, 'probe');
  // B away from zero, so every gradient term is live.
  for (const v of Object.values(params)) for (let i = 0; i < v.length; i++) v[i] = 0.02 * rng.normal();
  const tokens = Int32Array.from({ length: L + 1 }, () => Math.floor(rng.uniform() * CONFIG.vocabSize));
  const features = drawFeatures(CONFIG, 0);
  let best = Infinity;
  let grads: Float32Array = new Float32Array(0);
  let loss = 0;
  for (let rep = 0; rep < 2; rep++) {
    const started = performance.now();
    const seq = runner.prepare(params, tokens, features);
    await runner.advance(seq, 0, L, new Float64Array(runner.stateSize));
    const step = await runner.backward(
      seq,
      0,
      L,
      { kind: 'given', stateIn: new Float64Array(runner.stateSize) },
      new Float32Array(runner.stateSize),
      1 / L,
    );
    best = Math.min(best, (performance.now() - started) / 1000);
    grads = step.grads;
    loss = step.loss;
  }
  writeFileSync(
    `/tmp/resident-probe-${way}.grads`,
    new Uint8Array(grads.buffer, grads.byteOffset, grads.byteLength),
  );
  const stepped = { ...rss(), heap: heap() };
  void frozen;
  await runner.dispose();
  return { way, createSeconds, created, stepped, secondsPerStep: best, loss };
}

/** One 'given' session, to see what onnxruntime's optimisations copy of the constant weights. */
async function sessionWay(way: string): Promise<object> {
  ort.env.wasm.numThreads = 2;
  const frozenParams: Record<string, Float32Array> | undefined = loraFrozen(CONFIG, LORA, initParams(CONFIG));
  const resident = way !== 'given-fed';
  const graph = chunkGraphBuilder(CONFIG, C, 'given', LORA, resident ? 'resident' : 'inputs').build();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['wasm'],
    graphOptimizationLevel: way === 'given-resident-basic' ? 'basic' : 'all',
  };
  if (way === 'given-resident-noprepack') options.extra = { session: { disable_prepacking: '1' } };
  if (resident) {
    options.externalData = Object.entries(frozenParams).map(([name, a]) => ({
      path: frozenInputName(name),
      data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    }));
  }
  const before = { ...rss(), heap: heap() };
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(graph, options);
  const createSeconds = (performance.now() - t0) / 1000;
  delete options.externalData;
  const created = { ...rss(), heap: heap() };
  await session.release();
  return { way, graphMB: graph.length / MIB, createSeconds, before, created };
}

const ENGINE_WAYS = ['fed', 'resident'];
const SESSION_WAYS = ['given-fed', 'given-resident', 'given-resident-noprepack', 'given-resident-basic'];

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const way = args[1]!;
  const row = ENGINE_WAYS.includes(way) ? await engineWay(way as 'fed' | 'resident') : await sessionWay(way);
  process.stdout.write(JSON.stringify(row));
} else {
  const ways = args.length > 0 ? args : [...ENGINE_WAYS, ...SESSION_WAYS];
  for (const way of ways) {
    const script = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, [...process.execArgv, script, '--child', way], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    await new Promise((resolve) => child.on('exit', resolve));
    console.log(out);
  }
  if (ways.includes('fed') && ways.includes('resident')) {
    const read = (w: string): Float32Array =>
      new Float32Array(readFileSync(`/tmp/resident-probe-${w}.grads`).buffer.slice(0));
    const [a, b] = [read('fed'), read('resident')];
    let maxAbs = 0;
    let maxRef = 0;
    let differing = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
      maxRef = Math.max(maxRef, Math.abs(a[i]!));
      if (a[i] !== b[i]) differing++;
    }
    console.log(JSON.stringify({ grads: a.length, differing, maxAbsDiff: maxAbs, maxAbsGrad: maxRef }));
  }
}
