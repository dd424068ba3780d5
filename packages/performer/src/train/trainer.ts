/**
 * Local training: parameters, their AdamW state, the step counter and the random-feature schedule, around
 * an injected GradientEngine (the naive reference or the onnxruntime-web SLiM engine, interchangeably).
 * One sequence per step; the swarm layer replaces the weights after each merge round with setParams().
 */
import { ModelConfig } from '@slimswarm/protocol';
import type { InnerOptimizer } from '@slimswarm/protocol';
import { z } from 'zod';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { GradientEngine } from '../model/engine.js';
import { drawFeatures, featureEpoch } from '../model/features.js';
import type { LayerFeatures } from '../model/features.js';
import { initTrainable, trainableShapes } from '../model/lora.js';
import type { LoraSpec } from '../model/lora.js';
import { initParams } from '../model/params.js';
import type { Params } from '../model/params.js';
import { AdamW } from '../optim/adamw.js';
import type { AdamWState } from '../optim/adamw.js';
import { EmptyEvaluationError, TrainerBusyError, TrainerConfigError } from './errors.js';

export interface TrainerOptions {
  config: z.input<typeof ModelConfig>;
  optimizer: z.input<typeof InnerOptimizer>;
  engine: GradientEngine;
  /**
   * Train these adapters on the frozen base with this hash (the engine holds the base): params,
   * gradients, AdamW moments and checkpoints are then the trainable adapters only (trainableShapes).
   */
  lora?: LoraSpec;
  /**
   * Starting weights (copied); default: initParams(config), or initTrainable(config, lora) with LoRA,
   * the same on every peer for a seed.
   */
  params?: Params;
  /** Steps already taken (resuming): decides the current feature epoch. */
  step?: number;
  /** AdamW moments to resume from; default: fresh. */
  optimizerState?: AdamWState;
}

export interface StepResult {
  /** Mean cross-entropy of the sequence before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Predictions made (L). */
  tokens: number;
}

export class Trainer {
  readonly config: ModelConfig;
  readonly lora: LoraSpec | undefined;
  private readonly engine: GradientEngine;
  private readonly optimizer: AdamW;
  private params: Params;
  private steps: number;
  private features: { epoch: number; layers: LayerFeatures[] } | null = null;
  private busy = false;

  constructor(options: TrainerOptions) {
    const config = ModelConfig.safeParse(options.config);
    if (!config.success)
      throw new TrainerConfigError(`invalid model config: ${z.prettifyError(config.error)}`);
    this.config = config.data;
    const step = options.step ?? 0;
    if (!Number.isSafeInteger(step) || step < 0)
      throw new TrainerConfigError(`step must be a non-negative integer, got ${step}`);
    this.steps = step;
    this.engine = options.engine;
    this.lora = options.lora;
    const init = (): Params =>
      this.lora ? initTrainable(this.config, this.lora.config) : initParams(this.config);
    this.params = options.params === undefined ? init() : this.checkedCopy(options.params);
    try {
      this.optimizer = new AdamW(options.optimizer, this.params, options.optimizerState);
    } catch (e) {
      throw new TrainerConfigError(`cannot set up AdamW: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Resumes exactly where `toCheckpoint()` left off (weights, moments, step, feature schedule). */
  static fromCheckpoint(
    ckpt: Checkpoint,
    options: { optimizer: z.input<typeof InnerOptimizer>; engine: GradientEngine },
  ): Trainer {
    return new Trainer({
      config: ckpt.config,
      optimizer: options.optimizer,
      engine: options.engine,
      params: ckpt.params,
      step: ckpt.step,
      ...(ckpt.optimizer === undefined ? {} : { optimizerState: ckpt.optimizer }),
      ...(ckpt.lora === undefined ? {} : { lora: ckpt.lora }),
    });
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The random-feature epoch the next step uses (ModelConfig.featureRedraw). */
  get featureEpoch(): number {
    return featureEpoch(this.config, this.steps);
  }

  /** A copy of the current weights. */
  getParams(): Params {
    return copyParams(this.params);
  }

  /**
   * Replaces the weights (copied, checked against the config), e.g. with the merged global model after a
   * round. The AdamW moments and the step count are kept: they describe the local optimisation, which
   * continues from the new point (DiLoCo keeps inner optimiser state across rounds).
   */
  setParams(params: Params): void {
    if (this.busy) throw new TrainerBusyError();
    this.params = this.checkedCopy(params);
  }

  /** One AdamW step on one sequence of L + 1 token ids; `lrScale` scales the learning rate this step. */
  async step(tokens: Int32Array, lrScale = 1): Promise<StepResult> {
    return this.exclusive(async () => {
      const { loss, grads } = await this.engine.lossAndGrad(this.params, tokens, this.currentFeatures());
      const gradNorm = this.optimizer.update(this.params, grads, lrScale);
      this.steps++;
      return { loss, gradNorm, tokens: tokens.length - 1 };
    });
  }

  /** Mean loss per predicted token over the sequences, with the current weights and features. */
  async evaluate(sequences: Iterable<Int32Array> | AsyncIterable<Int32Array>): Promise<number> {
    return this.exclusive(async () => {
      let total = 0;
      let count = 0;
      for await (const tokens of sequences) {
        const loss = await this.engine.loss(this.params, tokens, this.currentFeatures());
        total += loss * (tokens.length - 1);
        count += tokens.length - 1;
      }
      if (count === 0) throw new EmptyEvaluationError();
      return total / count;
    });
  }

  toCheckpoint(): Checkpoint {
    return {
      config: this.config,
      params: copyParams(this.params),
      step: this.steps,
      featureEpoch: this.featureEpoch,
      optimizer: this.optimizer.exportState(),
      ...(this.lora === undefined ? {} : { lora: this.lora }),
    };
  }

  private currentFeatures(): LayerFeatures[] {
    const epoch = this.featureEpoch;
    if (this.features?.epoch !== epoch) this.features = { epoch, layers: drawFeatures(this.config, epoch) };
    return this.features.layers;
  }

  private async exclusive<T>(run: () => Promise<T>): Promise<T> {
    if (this.busy) throw new TrainerBusyError();
    this.busy = true;
    try {
      return await run();
    } finally {
      this.busy = false;
    }
  }

  private checkedCopy(params: Params): Params {
    const shapes = trainableShapes(this.config, this.lora?.config);
    const names = Object.keys(shapes);
    if (Object.keys(params).length !== names.length) {
      throw new TrainerConfigError(
        `expected ${names.length} parameter tensors, got ${Object.keys(params).length}`,
      );
    }
    for (const [name, shape] of Object.entries(shapes)) {
      const expected = shape.reduce((a, b) => a * b, 1);
      if (params[name]?.length !== expected) {
        throw new TrainerConfigError(
          `parameter ${name} must have ${expected} values, has ${params[name]?.length ?? 'none'}`,
        );
      }
    }
    return copyParams(params);
  }
}

function copyParams(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, p]) => [k, Float32Array.from(p)]));
}
