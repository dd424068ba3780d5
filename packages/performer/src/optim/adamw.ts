/**
 * AdamW (Loshchilov & Hutter): Adam with bias correction and weight decay decoupled from the gradient,
 * preceded by global-norm gradient clipping; the PyTorch `torch.optim.AdamW` update order. Parameters and
 * moments are float32 (that is what peers store and send); each update is computed in float64.
 */
import { InnerOptimizer } from '@slimswarm/protocol';
import type { z } from 'zod';
import type { Params } from '../model/params.js';
import { GradientShapeError, NonFiniteGradientError, OptimizerConfigError } from './errors.js';

export interface AdamWState {
  /** Updates applied so far; the next update is number step + 1 (bias correction uses it). */
  step: number;
  /** First moments, same names and sizes as the parameters. */
  m: Params;
  /** Second moments. */
  v: Params;
}

/**
 * Weight decay pulls weights toward zero; for LayerNorm gains (whose neutral value is 1, not 0) and for
 * biases and LayerNorm shifts (which carry no capacity worth regularising) it only does harm, so only the
 * matrices and the embedding decay, as in GPT-2/nanoGPT practice. Decided by name (params.ts naming).
 */
export function decaysWeight(name: string): boolean {
  const parts = name.split('.');
  const last = parts[parts.length - 1]!;
  const isBias = last === 'bias' || /^b\d+$/.test(last); // `*.bias`, `mlp.b1`, `mlp.b2`
  return !isBias && !parts.some((part) => part.startsWith('ln'));
}

/** L2 norm over every gradient tensor together, in float64. */
export function globalNorm(grads: Params): number {
  let sq = 0;
  for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  return Math.sqrt(sq);
}

/**
 * Scales every gradient by maxNorm / norm when the global norm exceeds maxNorm (in place); maxNorm = 0
 * disables clipping. Returns the norm before clipping, which is what training logs report.
 */
export function clipGradNorm(grads: Params, maxNorm: number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / norm;
    for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) g[i]! *= scale;
  }
  return norm;
}

export class AdamW {
  readonly hparams: InnerOptimizer;
  private readonly state: AdamWState;

  /**
   * `names`/sizes come from the parameters the optimiser will update; `state` resumes from a checkpoint
   * and must match them.
   */
  constructor(hparams: z.input<typeof InnerOptimizer>, params: Params, state?: AdamWState) {
    const parsed = InnerOptimizer.safeParse(hparams);
    if (!parsed.success)
      throw new OptimizerConfigError(`invalid AdamW hyperparameters: ${parsed.error.message}`);
    this.hparams = parsed.data;
    if (state === undefined) {
      this.state = { step: 0, m: zeros(params), v: zeros(params) };
    } else {
      if (!Number.isSafeInteger(state.step) || state.step < 0) {
        throw new GradientShapeError(`optimiser step must be a non-negative integer, got ${state.step}`);
      }
      checkSameShapes('first moment', params, state.m);
      checkSameShapes('second moment', params, state.v);
      this.state = { step: state.step, m: copy(state.m), v: copy(state.v) };
    }
  }

  get step(): number {
    return this.state.step;
  }

  /** A copy of the moments and step, for checkpoints. */
  exportState(): AdamWState {
    return { step: this.state.step, m: copy(this.state.m), v: copy(this.state.v) };
  }

  /**
   * Clips `grads` in place (hparams.gradClip) and updates `params` in place. Returns the gradient norm
   * before clipping. A non-finite gradient changes nothing and throws NonFiniteGradientError.
   * `lrScale` multiplies the learning rate for this step only (a schedule, e.g. pretraining's warm-up).
   */
  update(params: Params, grads: Params, lrScale = 1): number {
    checkSameShapes('gradient', params, grads);
    const { beta1, beta2, eps, weightDecay, gradClip } = this.hparams;
    const lr = this.hparams.lr * lrScale;
    const norm = globalNorm(grads);
    if (!Number.isFinite(norm)) throw new NonFiniteGradientError(norm);
    clipGradNorm(grads, gradClip);
    const t = this.state.step + 1;
    const correction1 = 1 - beta1 ** t;
    const correction2 = 1 - beta2 ** t;
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]!;
      const m = this.state.m[name]!;
      const v = this.state.v[name]!;
      const decay = decaysWeight(name) ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        const mi = beta1 * m[i]! + (1 - beta1) * gi;
        const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i]! * decay - (lr * (mi / correction1)) / (Math.sqrt(vi / correction2) + eps);
      }
    }
    this.state.step = t;
    return norm;
  }
}

function zeros(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, p]) => [k, new Float32Array(p.length)]));
}

function copy(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, p]) => [k, Float32Array.from(p)]));
}

function checkSameShapes(what: string, params: Params, other: Params): void {
  const names = Object.keys(params);
  const otherNames = Object.keys(other);
  if (otherNames.length !== names.length) {
    throw new GradientShapeError(`${what} has ${otherNames.length} tensors, the parameters ${names.length}`);
  }
  for (const name of names) {
    const t = other[name];
    if (t === undefined) throw new GradientShapeError(`${what} lacks ${name}`);
    if (t.length !== params[name]!.length) {
      throw new GradientShapeError(
        `${what} ${name} has ${t.length} elements, the parameter ${params[name]!.length}`,
      );
    }
  }
}
