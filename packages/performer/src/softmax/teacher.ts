/**
 * Runs and trains the softmax-attention teacher (graph.ts) with onnxruntime-web: fixed shapes (B
 * sequences of L tokens), one session per graph kind, AdamW from ../optim. Training samples random
 * L + 1-token windows of a token stream; a deterministic function of the seed on one wasm thread.
 */
import * as ort from 'onnxruntime-web';
import type { z } from 'zod';
import type { InnerOptimizer } from '@slimswarm/protocol';
import type { ModelConfig } from '../model/config.js';
import { paramLayout } from '../chunk/graphs.js';
import type { ParamSlot } from '../chunk/graphs.js';
import { checkParams, checkTokenIds } from '../model/inputs.js';
import { InvalidTokensError } from '../model/inputs.js';
import { initParams } from '../model/params.js';
import type { Params } from '../model/params.js';
import { Rng } from '../model/random.js';
import { AdamW } from '../optim/adamw.js';
import { warmupCosineScale } from '../optim/schedule.js';
import type { TeacherGraphKind } from './graph.js';
import { buildSoftmaxGraph } from './graph.js';

export interface TeacherShape {
  /** B sequences per run. */
  batch: number;
  /** L tokens per sequence. */
  seqLen: number;
}

export class SoftmaxTeacher {
  private readonly sessions = new Map<TeacherGraphKind, Promise<ort.InferenceSession>>();
  private readonly slots: ParamSlot[];
  private readonly total: number;

  constructor(
    readonly config: ModelConfig,
    readonly shape: TeacherShape,
  ) {
    ({ slots: this.slots, total: this.total } = paramLayout(config));
  }

  private session(kind: TeacherGraphKind): Promise<ort.InferenceSession> {
    let made = this.sessions.get(kind);
    if (!made) {
      const graph = buildSoftmaxGraph(this.config, this.shape.batch, this.shape.seqLen, kind);
      made = ort.InferenceSession.create(graph, {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      this.sessions.set(kind, made);
    }
    return made;
  }

  private feeds(params: Params, inputs: Int32Array, targets?: Int32Array): Record<string, ort.Tensor> {
    checkParams(this.config, params);
    const c = this.shape.batch * this.shape.seqLen;
    if (inputs.length !== c)
      throw new InvalidTokensError(`the teacher runs ${c} input ids, got ${inputs.length}`);
    checkTokenIds(this.config, inputs);
    const flat = new Float32Array(this.total);
    for (const slot of this.slots) flat.set(params[slot.name]!, slot.offset);
    const ids = new Int32Array(2 * c);
    ids.set(inputs);
    if (targets) ids.set(targets, c);
    return {
      params: new ort.Tensor('float32', flat, [this.total]),
      tokens: new ort.Tensor('int32', ids, [2, c]),
    };
  }

  /** Next-token logits [B·L, V] of B·L input ids (B sequences of L, each from position 0). */
  async logits(params: Params, inputs: Int32Array): Promise<Float32Array> {
    const out = await (await this.session('logits')).run(this.feeds(params, inputs));
    return out.logits!.data as Float32Array;
  }

  /**
   * Mean next-token cross-entropy of B sequences of L + 1 ids (concatenated) and its gradient for every
   * parameter.
   */
  async lossAndGrad(params: Params, tokens: Int32Array): Promise<{ loss: number; grads: Params }> {
    const { batch, seqLen } = this.shape;
    if (tokens.length !== batch * (seqLen + 1)) {
      throw new InvalidTokensError(`a training run takes ${batch} × ${seqLen + 1} ids, got ${tokens.length}`);
    }
    checkTokenIds(this.config, tokens);
    const inputs = new Int32Array(batch * seqLen);
    const targets = new Int32Array(batch * seqLen);
    for (let s = 0; s < batch; s++) {
      inputs.set(tokens.subarray(s * (seqLen + 1), s * (seqLen + 1) + seqLen), s * seqLen);
      targets.set(tokens.subarray(s * (seqLen + 1) + 1, (s + 1) * (seqLen + 1)), s * seqLen);
    }
    const out = await (await this.session('train')).run(this.feeds(params, inputs, targets));
    const flat = out.grads!.data as Float32Array;
    const grads: Params = {};
    for (const slot of this.slots) grads[slot.name] = flat.slice(slot.offset, slot.offset + slot.size);
    return { loss: (out.loss!.data as Float32Array)[0]!, grads };
  }

  async release(): Promise<void> {
    for (const session of this.sessions.values()) await (await session).release();
    this.sessions.clear();
  }
}

export interface TeacherTraining extends TeacherShape {
  steps: number;
  optimizer: z.input<typeof InnerOptimizer>;
  /** Linear warm-up steps, then cosine decay of the learning rate to a tenth (warmupCosineScale). */
  warmupSteps: number;
  /** Seeds the windows drawn (parameter init is config.seed's, as everywhere). */
  seed: number;
  /** Called after every step (1-based) with its loss (before the update). */
  onStep?: (step: number, loss: number) => void;
}

/** Trains a teacher from initParams(config) on random windows of `stream` (token ids). */
export async function trainSoftmaxTeacher(
  config: ModelConfig,
  stream: ArrayLike<number>,
  training: TeacherTraining,
): Promise<Params> {
  const { batch, seqLen, steps, warmupSteps } = training;
  if (stream.length < seqLen + 1) {
    throw new InvalidTokensError(`a ${stream.length}-token stream has no window of ${seqLen + 1}`);
  }
  const teacher = new SoftmaxTeacher(config, { batch, seqLen });
  const params = initParams(config);
  const optimizer = new AdamW(training.optimizer, params);
  const rng = new Rng(training.seed, 'softmax-teacher/windows');
  const tokens = new Int32Array(batch * (seqLen + 1));
  try {
    for (let step = 1; step <= steps; step++) {
      for (let s = 0; s < batch; s++) {
        const start = Math.floor(rng.uniform() * (stream.length - seqLen));
        for (let j = 0; j <= seqLen; j++) tokens[s * (seqLen + 1) + j] = stream[start + j]!;
      }
      const { loss, grads } = await teacher.lossAndGrad(params, tokens);
      optimizer.update(params, grads, warmupCosineScale(step, warmupSteps, steps));
      training.onStep?.(step, loss);
    }
  } finally {
    await teacher.release();
  }
  return params;
}
