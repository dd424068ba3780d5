/**
 * A GradientEngine whose work happens in the compute worker (compute-worker.ts). Calls are answered in
 * order; parameters are copied across (the trainer keeps its own), gradients come back transferred.
 */
import type { GradientEngine, LayerFeatures, LossAndGrad, Params } from '@slimswarm/performer';
import type { ModelConfig } from '@slimswarm/protocol';
import { FromCompute, parseCompute, type ToCompute } from './compute-protocol.js';
import { ComputeWorkerError } from './errors.js';

export interface RemoteEngineOptions {
  config: ModelConfig;
  chunk: number;
  threads: number;
  backend: 'wasm' | 'webgpu';
  ortWasmPrefix: string;
}

type Pending = { resolve: (m: FromCompute) => void; reject: (e: Error) => void };

export class RemoteEngine implements GradientEngine {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(
    readonly ready: Promise<void>,
    worker: Worker,
  ) {
    this.worker = worker;
  }

  static async create(opts: RemoteEngineOptions): Promise<RemoteEngine> {
    const worker = new Worker(new URL('./compute-worker.ts', import.meta.url), {
      type: 'module',
      name: 'compute',
    });
    let initDone!: () => void;
    let initFailed!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      initDone = resolve;
      initFailed = reject;
    });
    const engine = new RemoteEngine(ready, worker);
    worker.addEventListener('message', (e: MessageEvent<unknown>) => {
      let message: FromCompute;
      try {
        message = parseCompute(FromCompute, e.data);
      } catch (err) {
        engine.abort(err as Error);
        initFailed(err as Error);
        return;
      }
      if (message.type === 'ready') return initDone();
      if (message.type === 'failed') {
        const err = new ComputeWorkerError(`${message.name}: ${message.message}`);
        engine.abort(err);
        return initFailed(err);
      }
      const waiter = engine.pending.get(message.id);
      engine.pending.delete(message.id);
      if (message.type === 'error')
        waiter?.reject(new ComputeWorkerError(`${message.name}: ${message.message}`));
      else waiter?.resolve(message);
    });
    worker.addEventListener('error', (e) => {
      const err = new ComputeWorkerError(e.message || 'the compute worker failed');
      engine.abort(err);
      initFailed(err);
    });
    engine.post({ type: 'init', ...opts });
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
    if (answer.type !== 'lossAndGrad') throw new ComputeWorkerError(`expected gradients, got ${answer.type}`);
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
    if (answer.type !== 'loss') throw new ComputeWorkerError(`expected a loss, got ${answer.type}`);
    return answer.loss;
  }

  async dispose(): Promise<void> {
    this.abort(new ComputeWorkerError('the engine was disposed'));
  }

  private request(message: Extract<ToCompute, { id: number }>): Promise<FromCompute> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      this.post(message);
    });
  }

  private post(message: ToCompute): void {
    this.worker.postMessage(message);
  }

  private abort(err: Error): void {
    this.failure ??= err;
    this.worker.terminate();
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
