/**
 * Low-rank adapters (training.lora in the manifest). Each targeted matrix W [in, out] of every layer is
 * used as W + s · A B with s = alpha / rank, A [in, r] and B [r, out]:
 *
 *   blocks.{i}.attn.wq.lora_a   [D, r]    A, drawn from the model seed (stream `lora_a:<matrix>`), N(0, 1/in)
 *   blocks.{i}.attn.wq.lora_b   [r, D]    B, zeros (so the adapted model starts as the base)
 *   … the same for wk, wv, wo, mlp.wg, mlp.w1, mlp.w2 as targeted
 *
 * The trainable set is what the optimiser, the replica and the deltas hold: B only with factors 'b'
 * (FFA-LoRA: A is a fixed projection every peer derives, so the mean of peers' B is exactly the mean of
 * their updates s·A·B, the product being linear in B), A and B with 'ab'. The frozen set is the base
 * model plus, with 'b', every A: given to an engine once, never trained, never sent.
 */
import type { LoraConfig, LoraTarget } from '@slimswarm/protocol';
import type { ModelConfig } from './config.js';
import { paramShapes } from './params.js';
import type { Params } from './params.js';
import { Rng } from './random.js';

export type { LoraConfig };

/** The parameter each target adapts, inside `blocks.{i}.`. */
export const LORA_TARGET_PARAMS: Readonly<Record<LoraTarget, string>> = {
  q: 'attn.wq',
  k: 'attn.wk',
  v: 'attn.wv',
  o: 'attn.wo',
  gate: 'mlp.wg',
  up: 'mlp.w1',
  down: 'mlp.w2',
};

/** A target the model has no matrix for (e.g. 'gate' without a SwiGLU MLP). */
export class LoraTargetError extends Error {
  override readonly name = 'LoraTargetError';
  readonly code = 'ERR_LORA_TARGET';
}

/**
 * A LoRA model as checkpoints and trainers name it: the adapters' config and the SHA-256 of the frozen
 * base checkpoint they adapt (the base weights themselves are not repeated).
 */
export interface LoraSpec {
  config: LoraConfig;
  /** Lower-case hex SHA-256 of the base checkpoint's bytes. */
  baseSha256: string;
}

/** What a LoRA engine is given at creation: the config and its frozen tensors (frozenShapes). */
export interface LoraFrozen {
  lora: LoraConfig;
  /** The base model and, with factors 'b', the seeded A of every matrix (loraFrozen). */
  frozen: Params;
}

export interface AdaptedMatrix {
  /** The base parameter, e.g. blocks.0.attn.wq. */
  name: string;
  in: number;
  out: number;
  /** `${name}.lora_a`, `${name}.lora_b`. */
  a: string;
  b: string;
}

export function loraScale(lora: LoraConfig): number {
  return lora.alpha / lora.rank;
}

/** Every adapted matrix, layer by layer, in the order of the targets' matrices in paramShapes. */
export function adaptedMatrices(config: ModelConfig, lora: LoraConfig): AdaptedMatrix[] {
  const shapes = paramShapes(config);
  const suffixes = new Set(lora.targets.map((t) => LORA_TARGET_PARAMS[t]));
  for (const target of lora.targets) {
    if (shapes[`blocks.0.${LORA_TARGET_PARAMS[target]}`] === undefined) {
      throw new LoraTargetError(`LoRA target '${target}' has no matrix in this model`);
    }
  }
  const adapted: AdaptedMatrix[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    const suffix = name.replace(/^blocks\.\d+\./, '');
    if (name.startsWith('blocks.') && suffixes.has(suffix)) {
      adapted.push({ name, in: shape[0]!, out: shape[1]!, a: `${name}.lora_a`, b: `${name}.lora_b` });
    }
  }
  return adapted;
}

/** Shapes of every adapter tensor (A and B of each adapted matrix). */
export function adapterShapes(config: ModelConfig, lora: LoraConfig): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const m of adaptedMatrices(config, lora)) {
    shapes[m.a] = [m.in, lora.rank];
    shapes[m.b] = [lora.rank, m.out];
  }
  return shapes;
}

/** What trains (the optimiser's, replica's and deltas' tensors): every parameter without LoRA. */
export function trainableShapes(config: ModelConfig, lora?: LoraConfig): Record<string, number[]> {
  if (!lora) return paramShapes(config);
  const adapters = adapterShapes(config, lora);
  return Object.fromEntries(Object.entries(adapters).filter(([name]) => isTrainable(name, lora)));
}

/** What an engine is given once and never differentiates: the base, and A with factors 'b'. */
export function frozenShapes(config: ModelConfig, lora: LoraConfig): Record<string, number[]> {
  const adapters = adapterShapes(config, lora);
  const frozenA = Object.entries(adapters).filter(([name]) => !isTrainable(name, lora));
  return { ...paramShapes(config), ...Object.fromEntries(frozenA) };
}

function isTrainable(adapterName: string, lora: LoraConfig): boolean {
  return lora.factors === 'ab' || adapterName.endsWith('.lora_b');
}

/**
 * A and B of every adapted matrix at their start: A ~ N(0, 1/in) (x A keeps the scale of x, as Kaiming
 * init does), each matrix from its own stream so the targets chosen do not change each other's A; B = 0.
 */
export function initAdapters(config: ModelConfig, lora: LoraConfig): Params {
  const adapters: Params = {};
  for (const m of adaptedMatrices(config, lora)) {
    const rng = new Rng(config.seed, `lora_a:${m.name}`);
    const a = new Float32Array(m.in * lora.rank);
    const std = 1 / Math.sqrt(m.in);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
    adapters[m.a] = a;
    adapters[m.b] = new Float32Array(lora.rank * m.out);
  }
  return adapters;
}

/** Splits the full adapter set (initAdapters) into the trainable and the frozen-with-base halves. */
export function splitAdapters(
  lora: LoraConfig,
  adapters: Params,
): { trainable: Params; frozenAdapters: Params } {
  const trainable: Params = {};
  const frozenAdapters: Params = {};
  for (const [name, value] of Object.entries(adapters)) {
    (isTrainable(name, lora) ? trainable : frozenAdapters)[name] = value;
  }
  return { trainable, frozenAdapters };
}

/** The trainable tensors a LoRA replica starts from (derived from the seed: the same on every peer). */
export function initTrainable(config: ModelConfig, lora: LoraConfig): Params {
  return splitAdapters(lora, initAdapters(config, lora)).trainable;
}

/** The frozen inputs of a LoRA engine: the base and, with factors 'b', the seeded A of every matrix. */
export function loraFrozen(config: ModelConfig, lora: LoraConfig, base: Params): Params {
  return { ...base, ...splitAdapters(lora, initAdapters(config, lora)).frozenAdapters };
}

/**
 * W + s · A B for every adapted matrix, the other parameters as they are: the weights the adapted model
 * computes with, and the merged full weights export writes. `tensors` holds the base and both factors
 * (frozen and trainable together). Each product is accumulated in fp64 and rounded once.
 */
export function mergeAdapters(config: ModelConfig, lora: LoraConfig, tensors: Params): Params {
  const full: Params = {};
  for (const name of Object.keys(paramShapes(config))) full[name] = tensors[name]!;
  return { ...full, ...withLowRankUpdates(config, lora, tensors, (n) => new Float32Array(n)) };
}

/**
 * The adapted matrices alone, W + s · A B, in arrays from `alloc` (fp32 for export, fp64 for the
 * reference); keys are the base parameter names.
 */
export function withLowRankUpdates<T extends Float32Array | Float64Array>(
  config: ModelConfig,
  lora: LoraConfig,
  tensors: Readonly<Record<string, ArrayLike<number>>>,
  alloc: (length: number) => T,
): Record<string, T> {
  const merged: Record<string, T> = {};
  const s = loraScale(lora);
  const r = lora.rank;
  for (const m of adaptedMatrices(config, lora)) {
    const w = tensors[m.name]!;
    const a = tensors[m.a]!;
    const b = tensors[m.b]!;
    const out = alloc(w.length);
    const row = new Float64Array(m.out);
    for (let i = 0; i < m.in; i++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const aik = a[i * r + k]!;
        for (let j = 0; j < m.out; j++) row[j]! += aik * b[k * m.out + j]!;
      }
      for (let j = 0; j < m.out; j++) out[i * m.out + j] = w[i * m.out + j]! + s * row[j]!;
    }
    merged[m.name] = out;
  }
  return merged;
}
