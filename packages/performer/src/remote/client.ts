/**
 * A GradientEngine whose work happens on another thread (a Node worker thread or a browser Web Worker)
 * that runs `serveEngine`. Calls are answered in order; parameters are copied across (the trainer keeps
 * its own), gradients come back transferred.
 */
import type { GenerateOptions, GenerateResult } from '../decode/decoder.js';
import { InvalidSampleOptionsError } from '../decode/errors.js';
import { parseSampleOptions } from '../decode/sample.js';
import type { GradientEngine, LossAndGrad } from '../model/engine.js';
import type { LayerFeatures } from '../model/features.js';
import type { Params } from '../model/params.js';
import {
  EngineMismatchError,
  EngineTimeoutError,
  FromEngine,
  RemoteEngineError,
  parseMessage,
  type EngineInit,
  type EnginePort,
  type ToEngine,
  type VerifyReport,
} from './protocol.js';
import { describeVerifyReport } from './verify.js';

export interface RemoteEnginePort extends EnginePort {
  onError(listener: (error: Error) => void): void;
  terminate(): void | Promise<unknown>;
}

type Pending = { resolve: (m: FromEngine) => void; reject: (e: Error) => void };

/** A generation in flight: its tokens as they arrive, then how it ended or why it failed. */
interface Stream {
  tokens: number[]; // arrived and not yet read
  result: GenerateResult | null;
  error: Error | null;
  wake: (() => void) | null;
}

export interface RemoteGenerateOptions extends GenerateOptions {
  /** Redraw epoch of the random features that go with the weights (default 0). */
  featureEpoch?: number;
}

export class RemoteEngine implements GradientEngine {
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, Stream>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(private readonly port: RemoteEnginePort) {}

  /**
   * Starts the engine on the other side and resolves once it is ready (its sessions are created). With
   * `transferFrozen` a LoRA init's frozen tensors are moved, not copied (a 135 M base is 538 MB): their
   * buffers, and every other view over them (the fetched base checkpoint's bytes), are detached here.
   */
  static async connect(
    port: RemoteEnginePort,
    init: EngineInit,
    opts: { transferFrozen?: boolean } = {},
  ): Promise<RemoteEngine> {
    const engine = new RemoteEngine(port);
    let initDone!: () => void;
    let initFailed!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      initDone = resolve;
      initFailed = reject;
    });
    port.onMessage((data) => {
      let message: FromEngine;
      try {
        message = parseMessage(FromEngine, data);
      } catch (err) {
        engine.abort(err as Error);
        initFailed(err as Error);
        return;
      }
      if (message.type === 'ready') return initDone();
      if (message.type === 'failed') {
        const err = new RemoteEngineError(`${message.name}: ${message.message}`);
        engine.abort(err);
        return initFailed(err);
      }
      const stream = engine.streams.get(message.id);
      if (stream) return engine.onStream(stream, message);
      const waiter = engine.pending.get(message.id);
      engine.pending.delete(message.id);
      if (message.type === 'error')
        waiter?.reject(new RemoteEngineError(`${message.name}: ${message.message}`));
      else waiter?.resolve(message);
    });
    port.onError((error) => {
      const err = new RemoteEngineError(`the engine thread failed: ${error.message}`);
      engine.abort(err);
      initFailed(err);
    });
    const frozen = opts.transferFrozen ? Object.values(init.lora?.frozen ?? {}).map((t) => t.buffer) : [];
    const transfer = [...new Set(frozen)].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    port.postMessage({ type: 'init', init } satisfies ToEngine, transfer);
    await ready;
    return engine;
  }

  async lossAndGrad(
    params: Params,
    tokens: Int32Array,
    features: readonly LayerFeatures[],
  ): Promise<LossAndGrad> {
    const answer = await this.request({
      type: 'lossAndGrad',
      id: this.nextId++,
      params,
      tokens,
      features: [...features],
    });
    if (answer.type !== 'lossAndGrad') throw new RemoteEngineError(`expected gradients, got ${answer.type}`);
    return { loss: answer.loss, grads: answer.grads };
  }

  async loss(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): Promise<number> {
    const answer = await this.request({
      type: 'loss',
      id: this.nextId++,
      params,
      tokens,
      features: [...features],
    });
    if (answer.type !== 'loss') throw new RemoteEngineError(`expected a loss, got ${answer.type}`);
    return answer.loss;
  }

  /**
   * Has the engine's side run one gradient step against the float64 reference (verify.ts) and resolves
   * with the report when they agree within `tolerance`. EngineMismatchError when they do not;
   * EngineTimeoutError when no answer came within `timeoutMs` — the engine is then treated as stuck and
   * refuses further calls (dispose it).
   */
  async verify(opts: { seqLen: number; tolerance: number; timeoutMs: number }): Promise<VerifyReport> {
    const id = this.nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new EngineTimeoutError(`no probe gradient step within ${opts.timeoutMs} ms`);
        this.abort(err);
        reject(err);
      }, opts.timeoutMs);
    });
    let answer: FromEngine;
    try {
      answer = await Promise.race([
        this.request({ type: 'verify', id, seqLen: opts.seqLen, tolerance: opts.tolerance }),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
    if (answer.type !== 'verify') throw new RemoteEngineError(`expected a probe report, got ${answer.type}`);
    if (!answer.report.ok) throw new EngineMismatchError(describeVerifyReport(answer.report));
    return answer.report;
  }

  /**
   * Generates on the engine's thread from these weights, yielding each token as its message arrives; the
   * return value says why it ended. Aborting `signal`, or leaving the loop early, cancels it there.
   * Options are checked here (InvalidSampleOptionsError); nothing is sent before the first next().
   */
  generate(
    params: Params,
    prompt: Int32Array,
    opts: RemoteGenerateOptions = {},
  ): AsyncGenerator<number, GenerateResult, undefined> {
    const { signal, featureEpoch = 0, ...rest } = opts;
    const sample = parseSampleOptions(rest);
    if (!Number.isInteger(featureEpoch) || featureEpoch < 0) {
      throw new InvalidSampleOptionsError(`featureEpoch must be a non-negative integer, got ${featureEpoch}`);
    }
    const message: ToEngine & { type: 'generate' } = {
      type: 'generate',
      id: this.nextId++,
      params,
      prompt,
      featureEpoch,
      sample,
    };
    return this.stream(message, signal);
  }

  private async *stream(
    message: ToEngine & { type: 'generate' },
    signal: AbortSignal | undefined,
  ): AsyncGenerator<number, GenerateResult, undefined> {
    if (this.failure) throw this.failure;
    if (signal?.aborted) return { reason: 'aborted', tokens: 0 };
    const stream: Stream = { tokens: [], result: null, error: null, wake: null };
    const cancel = (): void => this.port.postMessage({ type: 'cancel', id: message.id } satisfies ToEngine);
    this.streams.set(message.id, stream);
    this.port.postMessage(message);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for (;;) {
        // A queue, emptied as it is read: memory stays flat however long the generation runs.
        const token = stream.tokens.shift();
        if (token !== undefined) {
          yield token;
          continue;
        }
        if (stream.error) throw stream.error;
        if (stream.result) return stream.result;
        await new Promise<void>((resolve) => (stream.wake = resolve));
        stream.wake = null;
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      // Left early (break, return, a throw in the loop body): stop the work on the other side.
      if (!stream.result && !stream.error && !this.failure) cancel();
      this.streams.delete(message.id);
    }
  }

  private onStream(stream: Stream, message: FromEngine): void {
    if (message.type === 'token') stream.tokens.push(message.token);
    else if (message.type === 'generated') stream.result = { reason: message.reason, tokens: message.tokens };
    else if (message.type === 'error')
      stream.error = new RemoteEngineError(`${message.name}: ${message.message}`);
    else stream.error = new RemoteEngineError(`unexpected ${message.type} message during a generation`);
    stream.wake?.();
  }

  async dispose(): Promise<void> {
    this.abort(new RemoteEngineError('the engine was disposed'));
    this.port.postMessage({ type: 'dispose' } satisfies ToEngine);
    await this.port.terminate();
  }

  private request(message: ToEngine & { id: number }): Promise<FromEngine> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      this.port.postMessage(message);
    });
  }

  private abort(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    for (const stream of this.streams.values()) {
      stream.error ??= err;
      stream.wake?.();
    }
  }
}
