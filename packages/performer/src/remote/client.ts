/**
 * A GradientEngine whose work happens on another thread (a Node worker thread or a browser Web Worker)
 * that runs `serveEngine`. Calls are answered in order; parameters are copied across (the trainer keeps
 * its own), gradients come back transferred.
 */
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

export class RemoteEngine implements GradientEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(private readonly port: RemoteEnginePort) {}

  /** Starts the engine on the other side and resolves once it is ready (its sessions are created). */
  static async connect(port: RemoteEnginePort, init: EngineInit): Promise<RemoteEngine> {
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
    port.postMessage({ type: 'init', init } satisfies ToEngine);
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
  }
}
