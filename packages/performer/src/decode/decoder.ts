// Legend: L tokens, C chunk, N layers, K key/value heads, E head size, M random features, V vocab.
/**
 * Recurrent generation on onnxruntime-web in constant memory per token. A causal Performer needs only the
 * prefix-sum state (S, z) of every layer and head to continue a sequence, so the decoder carries one
 * fixed-size state [N, K, M, E + 1] between runs:
 *   prefill  the prompt in chunks of C through the chunk engine's 'logits' graph (chunk/graphs.ts; the
 *            last chunk padded and masked, shapes fixed so the wasm heap stops growing);
 *   step     one token per run through the step graph (graph.ts) with the weights embedded.
 * Memory and time per generated token do not depend on how many came before.
 */
import * as ort from 'onnxruntime-web';
import { z } from 'zod';
import type { ModelConfig } from '../model/config.js';
import { drawFeatures } from '../model/features.js';
import { TokenOutOfRangeError, checkPositions, checkTokenIds } from '../model/inputs.js';
import type { Params } from '../model/params.js';
import type { PreparedModel } from '../chunk/runner.js';
import { ChunkRunner, configureThreads } from '../chunk/runner.js';
import { stateShape, stateSize } from '../chunk/graphs.js';
import { buildDecoderStepGraph } from './graph.js';
import {
  DecoderBusyError,
  DecoderDisposedError,
  EmptyPromptError,
  InvalidDecoderOptionsError,
  InvalidSampleOptionsError,
} from './errors.js';
import type { SampleOptions } from './sample.js';
import { Sampler, parseSampleOptions } from './sample.js';
import { nextMacrotask } from './yield.js';

export const DecoderOptions = z
  .object({
    /** wasm threads (onnxruntime reads this once per process); default navigator.hardwareConcurrency, else 1. */
    threads: z.number().int().positive().max(256).optional(),
    backend: z.enum(['wasm', 'webgpu']).default('wasm'),
    /** Prompt tokens per prefill run (C). */
    chunk: z.number().int().positive().max(4096).default(32),
    /** Redraw epoch of the random features that go with the weights (featureEpoch(config, step)). */
    featureEpoch: z.number().int().min(0).default(0),
    /** generate() gives the event loop a turn at least this often (ms), so aborts and messages get in. */
    yieldEveryMs: z.number().finite().min(0).default(10),
  })
  .strict();
export type DecoderOptions = z.input<typeof DecoderOptions>;

export interface GenerateOptions extends SampleOptions {
  /** Aborting ends the generation after the token being computed (the iterable just ends). */
  signal?: AbortSignal;
}

/** Why a generation ended. */
export type StopReason = 'maxTokens' | 'stopToken' | 'aborted';

export interface GenerateResult {
  reason: StopReason;
  /** Tokens generated (yielded). */
  tokens: number;
}

export interface Decoder {
  readonly config: ModelConfig;
  /** C, prompt tokens per prefill run. */
  readonly chunk: number;
  readonly featureEpoch: number;
  /** Bytes of the recurrent state carried between runs: 4·N·K·M·(E + 1), whatever the position. */
  readonly stateBytes: number;
  /** Tokens fed since the last reset: the absolute position of the next one. */
  readonly position: number;
  /** onnxruntime session runs so far. */
  readonly runs: number;
  /** Forgets the sequence: zero state at position 0 (DecoderBusyError while a call runs). */
  reset(): void;
  /** Feeds tokens (≥ 1) in chunks of C, continuing the current sequence; returns the next-token logits [V]. */
  prefill(tokens: Int32Array): Promise<Float32Array>;
  /** Feeds one token through the step graph; returns the next-token logits [V]. */
  step(token: number): Promise<Float32Array>;
  /**
   * Next-token logits [L, V] at every position of `tokens`, from a fresh sequence (the decoder is reset
   * first and left after the last token): prefilled in chunks of C, or fed one step at a time.
   */
  logits(tokens: Int32Array, opts?: { mode?: 'chunks' | 'steps' }): Promise<Float32Array>;
  /**
   * Resets, prefills the prompt, then samples up to maxTokens tokens, yielding each as it is drawn. The
   * generator's return value says why it ended. Options are checked when called; the decoder is held
   * (DecoderBusyError for other calls) from the first next() until the generator ends or is returned.
   */
  generate(prompt: Int32Array, opts?: GenerateOptions): AsyncGenerator<number, GenerateResult, undefined>;
  dispose(): Promise<void>;
}

const Signal = z.custom<AbortSignal>(
  (v) => typeof AbortSignal !== 'undefined' && v instanceof AbortSignal,
  'expected an AbortSignal',
);

/** Builds the decoder's sessions (prefill chunk graph and step graph) for these weights. */
export async function createDecoder(
  config: ModelConfig,
  params: Params,
  opts: DecoderOptions = {},
): Promise<Decoder> {
  const parsed = DecoderOptions.safeParse(opts);
  if (!parsed.success) throw new InvalidDecoderOptionsError(z.prettifyError(parsed.error));
  const options = parsed.data;
  configureThreads(options.threads);
  const features = drawFeatures(config, options.featureEpoch);
  const runner = new ChunkRunner(config, options.chunk, options.backend);
  const model = runner.prepareModel(params, features);
  const stepGraph = buildDecoderStepGraph(config, params, features);
  const [step] = await Promise.all([
    ort.InferenceSession.create(stepGraph, {
      executionProviders: [options.backend],
      graphOptimizationLevel: 'all',
    }),
    runner.createSessions(['logits']),
  ]);
  return new OrtDecoder(config, options, runner, model, step);
}

class OrtDecoder implements Decoder {
  readonly chunk: number;
  readonly featureEpoch: number;
  readonly stateBytes: number;
  private state: Float32Array; // [N, K, M, E + 1]
  private at = 0;
  private stepRuns = 0;
  private busy = false;
  private disposed = false;
  // Reused for every step: nothing is allocated per token on this side but what onnxruntime returns.
  private readonly tokenIn = new Int32Array(1); // [1]
  private readonly positionIn = new Int32Array(1); // [1]
  private readonly stateShape: number[];

  constructor(
    readonly config: ModelConfig,
    private readonly options: z.output<typeof DecoderOptions>,
    private readonly runner: ChunkRunner,
    private readonly model: PreparedModel,
    private readonly session: ort.InferenceSession,
  ) {
    this.stateShape = stateShape(config);
    this.chunk = options.chunk;
    this.featureEpoch = options.featureEpoch;
    this.state = new Float32Array(stateSize(config));
    this.stateBytes = this.state.byteLength;
  }

  get position(): number {
    return this.at;
  }

  get runs(): number {
    return this.runner.runs + this.stepRuns;
  }

  reset(): void {
    this.check();
    if (this.busy) throw new DecoderBusyError();
    this.resetState();
  }

  prefill(tokens: Int32Array): Promise<Float32Array> {
    return this.exclusive(async () => (await this.feed(tokens, false)).last);
  }

  step(token: number): Promise<Float32Array> {
    return this.exclusive(() => this.runStep(token));
  }

  logits(tokens: Int32Array, opts: { mode?: 'chunks' | 'steps' } = {}): Promise<Float32Array> {
    const mode = z.enum(['chunks', 'steps']).default('chunks').safeParse(opts.mode);
    if (!mode.success) throw new InvalidDecoderOptionsError(z.prettifyError(mode.error));
    return this.exclusive(async () => {
      this.resetState();
      if (mode.data === 'chunks') return (await this.feed(tokens, true)).all!;
      checkTokenIds(this.config, tokens);
      const v = this.config.vocabSize;
      const all = new Float32Array(tokens.length * v); // [L, V]
      for (let t = 0; t < tokens.length; t++) all.set(await this.runStep(tokens[t]!), t * v);
      return all;
    });
  }

  generate(
    prompt: Int32Array,
    opts: GenerateOptions = {},
  ): AsyncGenerator<number, GenerateResult, undefined> {
    this.check();
    const { signal, ...rest } = opts;
    const sample = parseSampleOptions(rest);
    if (signal !== undefined && !Signal.safeParse(signal).success) {
      throw new InvalidSampleOptionsError('signal must be an AbortSignal');
    }
    checkTokenIds(this.config, prompt);
    if (prompt.length === 0) throw new EmptyPromptError();
    return this.run(prompt, sample, signal);
  }

  private async *run(
    prompt: Int32Array,
    sample: ReturnType<typeof parseSampleOptions>,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<number, GenerateResult, undefined> {
    this.acquire();
    try {
      this.resetState();
      const sampler = new Sampler(sample);
      let logits = (await this.feed(prompt, false)).last; // [V]
      let lastYield = performance.now();
      for (let count = 0; count < sample.maxTokens;) {
        if (signal?.aborted) return { reason: 'aborted', tokens: count };
        const token = sampler.next(logits);
        count++;
        yield token;
        if (sample.stopTokens.includes(token)) return { reason: 'stopToken', tokens: count };
        if (count === sample.maxTokens) break;
        if (performance.now() - lastYield >= this.options.yieldEveryMs) {
          await nextMacrotask();
          lastYield = performance.now();
        }
        if (signal?.aborted) return { reason: 'aborted', tokens: count };
        logits = await this.runStep(token);
      }
      return { reason: 'maxTokens', tokens: sample.maxTokens };
    } finally {
      this.busy = false;
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([this.session.release(), this.runner.dispose()]);
  }

  /** Prefill: chunks of C through the logits graph, continuing from the current state and position. */
  private async feed(
    tokens: Int32Array,
    keepAll: boolean,
  ): Promise<{ last: Float32Array; all?: Float32Array }> {
    checkTokenIds(this.config, tokens);
    if (tokens.length === 0) throw new EmptyPromptError();
    // Checked whole before the first run, so a refused prompt leaves the state as it was.
    checkPositions(this.config, this.at, tokens.length);
    const v = this.config.vocabSize;
    const all = keepAll ? new Float32Array(tokens.length * v) : undefined; // [L, V]
    let last: Float32Array = new Float32Array(v);
    const offset = this.at;
    for (let start = 0; start < tokens.length; start += this.chunk) {
      const end = Math.min(start + this.chunk, tokens.length);
      const run = await this.runner.logits(this.model, tokens, start, end, this.state, offset);
      this.state = run.stateOut;
      this.at = offset + end;
      all?.set(run.logits, start * v);
      last = run.logits.subarray((end - start - 1) * v, (end - start) * v);
    }
    return { last, ...(all ? { all } : {}) };
  }

  private async runStep(token: number): Promise<Float32Array> {
    if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
      throw new TokenOutOfRangeError(this.at, token, this.config.vocabSize);
    }
    checkPositions(this.config, this.at, 1);
    this.tokenIn[0] = token;
    this.positionIn[0] = this.at;
    const out = await this.session.run({
      token: new ort.Tensor('int32', this.tokenIn, [1]),
      position: new ort.Tensor('int32', this.positionIn, [1]),
      state: new ort.Tensor('float32', this.state, this.stateShape),
    });
    this.stepRuns++;
    this.state = out.stateOut!.data as Float32Array;
    this.at++;
    return out.logits!.data as Float32Array;
  }

  private resetState(): void {
    this.state = new Float32Array(this.state.length);
    this.at = 0;
  }

  private check(): void {
    if (this.disposed) throw new DecoderDisposedError();
  }

  private acquire(): void {
    this.check();
    if (this.busy) throw new DecoderBusyError();
    this.busy = true;
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.acquire();
    try {
      return await work();
    } finally {
      this.busy = false;
    }
  }
}
