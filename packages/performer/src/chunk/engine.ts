/**
 * The SLiM gradient engine (exact gradients, memory flat in L) and the unchunked engine it is measured
 * against, both on onnxruntime-web.
 *
 * lossAndGrad, SLiM:
 *   forward   chunks 0 … K−1 bottom-up, carrying only the states (and keeping the entering state of every
 *             `storeEvery`-th chunk, if asked);
 *   backward  chunks K−1 … 0: each backward graph re-runs its chunk, rebuilds the entering state (given
 *             when stored or zero, else S_out minus the chunk's own contribution Δ), back-propagates the
 *             surrogate chunk loss + ⟨S_out, G_out⟩ and hands ∂/∂S_in to the chunk before it.
 * States are carried between chunks in fp64 (S_out = S_in + Δ, S_in = S_out − Δ, with Δ from the graphs),
 * so a rebuilt state is one fp32 rounding from the forward one however many chunks lie between
 * (docs/benchmarks.md, "Rebuilding the state"). Parameter gradients of the chunks are summed in fp64.
 */
import { z } from 'zod';
import type { ModelConfig } from '../model/config.js';
import type { GradientEngine, LossAndGrad } from '../model/engine.js';
import type { LayerFeatures } from '../model/features.js';
import type { Params } from '../model/params.js';
import type { LoraFrozen } from '../model/lora.js';
import type { ParamSlot } from './graphs.js';
import { EngineDisposedError, InvalidEngineOptionsError } from './errors.js';
import type { BackwardState, PreparedSequence } from './runner.js';
import { ChunkRunner, configureThreads } from './runner.js';

export const SlimEngineOptions = z
  .object({
    /** Tokens per chunk (C). */
    chunk: z.number().int().positive().max(65_536),
    /** wasm threads (onnxruntime reads this once per process); default navigator.hardwareConcurrency, else 1. */
    threads: z.number().int().positive().max(256).optional(),
    backend: z.enum(['wasm', 'webgpu']).default('wasm'),
    /**
     * Keep the state entering every k-th chunk during the forward pass and rebuild the others by
     * subtraction; 0 keeps none (memory flat in L). docs/benchmarks.md has the measured errors.
     */
    storeEvery: z.number().int().min(0).default(0),
  })
  .strict();
export type SlimEngineOptions = z.input<typeof SlimEngineOptions>;

export const FullEngineOptions = SlimEngineOptions.pick({ threads: true, backend: true });
export type FullEngineOptions = z.input<typeof FullEngineOptions>;

export interface EngineStats {
  /** Most bytes of attention states (and their gradients) held at once during a call. */
  readonly peakStateBytes: number;
  /** onnxruntime session runs so far. */
  readonly runs: number;
}

export type StatsEngine = GradientEngine & { readonly stats: EngineStats };

function parseOptions<T extends z.ZodType>(schema: T, opts: unknown): z.output<T> {
  const parsed = schema.safeParse(opts);
  if (!parsed.success) throw new InvalidEngineOptionsError(z.prettifyError(parsed.error));
  return parsed.data;
}

function unflatten(slots: readonly ParamSlot[], flat: Float64Array): Params {
  const grads: Params = {};
  for (const slot of slots) {
    grads[slot.name] = Float32Array.from(flat.subarray(slot.offset, slot.offset + slot.size));
  }
  return grads;
}

/**
 * Tracks the bytes of state tensors alive at once: the carried state and state gradient, stored entering
 * states, and each session run's outputs while its inputs are still held.
 */
class StateMeter {
  private live = 0;
  peak = 0;
  constructor(private readonly bytesPerState: number) {}
  hold(count = 1): void {
    this.live += count * this.bytesPerState;
    this.peak = Math.max(this.peak, this.live);
  }
  release(count = 1): void {
    this.live -= count * this.bytesPerState;
  }
}

/** Loss and gradients of one sequence by SLiM over `runner`'s chunks (the full engine: one chunk). */
async function slimLossAndGrad(
  runner: ChunkRunner,
  seq: PreparedSequence,
  storeEvery: number,
  meter: StateMeter,
): Promise<LossAndGrad> {
  const length = seq.tokens.length - 1;
  const c = runner.chunk;
  const chunks = Math.ceil(length / c);
  const scale = 1 / length;
  const range = (k: number): [number, number] => [k * c, Math.min((k + 1) * c, length)];
  const zero = new Float64Array(runner.stateSize);

  // Entering states kept for the backward pass; chunk 0 always starts from zeros.
  const stored = new Map<number, Float64Array>([[0, zero]]);
  let state: Float64Array = zero;
  meter.hold();
  // The last chunk's forward only serves to rebuild its entering state, needless when that is stored.
  const lastStored = storeEvery > 0 && (chunks - 1) % storeEvery === 0;
  const forwardChunks = lastStored ? chunks - 1 : chunks;
  for (let k = 0; k < forwardChunks; k++) {
    if (k > 0 && storeEvery > 0 && k % storeEvery === 0) {
      stored.set(k, state);
      meter.hold();
    }
    const [start, end] = range(k);
    meter.hold();
    state = await runner.advance(seq, start, end, state);
    meter.release();
  }
  if (lastStored && chunks > 1) {
    stored.set(chunks - 1, state);
    meter.hold();
  }

  let stateGrad: Float32Array = new Float32Array(runner.stateSize);
  meter.hold();
  const grads = new Float64Array(runner.paramCount);
  let loss = 0;
  for (let k = chunks - 1; k >= 0; k--) {
    const [start, end] = range(k);
    const given = stored.get(k);
    const from: BackwardState = given
      ? { kind: 'given', stateIn: given }
      : { kind: 'subtract', stateOut: state };
    meter.hold(2);
    const step = await runner.backward(seq, start, end, from, stateGrad, scale);
    meter.release(2);
    loss += step.loss;
    for (let i = 0; i < grads.length; i++) grads[i]! += step.grads[i]!;
    state = step.stateIn;
    stateGrad = step.stateGradIn;
    if (given && k > 0) {
      stored.delete(k);
      meter.release();
    }
  }
  meter.release(2);
  return { loss, grads: unflatten(runner.slots, grads) };
}

class ChunkEngine implements StatsEngine {
  private disposed = false;
  private peakStateBytes = 0;
  private finishedRuns = 0;

  constructor(
    private readonly runnerFor: (length: number) => Promise<ChunkRunner>,
    private readonly storeEvery: number,
    private readonly release: () => Promise<void>,
  ) {}

  get stats(): EngineStats {
    return { peakStateBytes: this.peakStateBytes, runs: this.finishedRuns };
  }

  private async withRunner<T>(
    tokens: Int32Array,
    work: (runner: ChunkRunner, meter: StateMeter) => Promise<T>,
  ): Promise<T> {
    if (this.disposed) throw new EngineDisposedError('engine was disposed');
    const runner = await this.runnerFor(tokens.length - 1);
    // fp64 carried states are the larger kind: count every state at 8 bytes per value.
    const meter = new StateMeter(runner.stateSize * 8);
    const runsBefore = runner.runs;
    try {
      return await work(runner, meter);
    } finally {
      this.peakStateBytes = Math.max(this.peakStateBytes, meter.peak);
      this.finishedRuns += runner.runs - runsBefore;
    }
  }

  lossAndGrad(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): Promise<LossAndGrad> {
    return this.withRunner(tokens, (runner, meter) =>
      slimLossAndGrad(runner, runner.prepare(params, tokens, features), this.storeEvery, meter),
    );
  }

  loss(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): Promise<number> {
    return this.withRunner(tokens, async (runner, meter) => {
      const seq = runner.prepare(params, tokens, features);
      const length = tokens.length - 1;
      meter.hold(2);
      const { loss } = await runner.forwardRange(seq, 0, length, undefined, 1 / length);
      meter.release(2);
      return loss;
    });
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.release();
  }
}

/**
 * SLiM: exact gradients with memory independent of the sequence length. With `lora` the engine is
 * called with the trainable adapters and returns their gradients. On wasm the frozen tensors are copied
 * into onnxruntime's heap while the engine is created and never read again: the caller may drop
 * `lora.frozen` once this resolves (on WebGPU they are fed to every run and must be kept).
 */
export async function createSlimEngine(
  config: ModelConfig,
  opts: SlimEngineOptions,
  lora?: LoraFrozen,
): Promise<StatsEngine> {
  const { chunk, threads, backend, storeEvery } = parseOptions(SlimEngineOptions, opts);
  configureThreads(threads);
  const runner = new ChunkRunner(config, chunk, backend, lora);
  // Ready means ready to train: a gradient step's sessions exist (evaluation's is made on first use).
  await runner.createSessions(['states', 'given', 'subtract']);
  return new ChunkEngine(
    async () => runner,
    storeEvery,
    () => runner.dispose(),
  );
}

/**
 * The same graphs with one chunk of the whole sequence (C = L), so onnxruntime keeps every activation:
 * the baseline for SLiM's time overhead. Graphs are rebuilt when L changes, from `lora.frozen`: the caller
 * keeps it for the engine's lifetime.
 */
export async function createFullEngine(
  config: ModelConfig,
  opts: FullEngineOptions = {},
  lora?: LoraFrozen,
): Promise<StatsEngine> {
  const { threads, backend } = parseOptions(FullEngineOptions, opts);
  configureThreads(threads);
  let current: ChunkRunner | undefined;
  const runnerFor = async (length: number): Promise<ChunkRunner> => {
    if (current?.chunk !== length) {
      await current?.dispose();
      current = new ChunkRunner(config, length, backend, lora);
    }
    return current;
  };
  return new ChunkEngine(runnerFor, 1, async () => current?.dispose());
}
