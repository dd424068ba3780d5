/**
 * Checking an engine against the float64 reference before it trains. An engine can start and still
 * compute garbage: a WebGPU kernel that failed validation leaves its outputs unwritten and the run still
 * resolves. One gradient step on a fixed sequence, compared with the naive engine, catches that. It runs
 * where the engine runs (the engine's thread), so the reference's float64 work stays off the caller's.
 */
import { maxGradRelativeError } from '../chunk/compare.js';
import type { ModelConfig } from '../model/config.js';
import type { GradientEngine } from '../model/engine.js';
import { drawFeatures } from '../model/features.js';
import { initTrainable } from '../model/lora.js';
import type { LoraFrozen } from '../model/lora.js';
import { initParams } from '../model/params.js';
import { createNaiveEngine } from '../naive/index.js';
import type { VerifyReport } from './protocol.js';

export interface VerifyOptions {
  /** The engine's chunk length C: the probe sequence spans two chunks when the job's L allows. */
  chunk: number;
  /** The job's sequence length L. */
  seqLen: number;
  /** Largest relative error accepted, for the loss and for every gradient tensor. */
  tolerance: number;
  /** The engine is a LoRA engine on these frozen tensors: checked on the adapters' gradients. */
  lora?: LoraFrozen;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** One gradient step of `engine` against the naive reference on the same parameters, tokens and ω. */
export async function verifyEngine(
  engine: GradientEngine,
  config: ModelConfig,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  // Two chunks, so that the state carried between chunks is exercised too.
  const length = Math.min(opts.seqLen, 2 * opts.chunk);
  const tokens = Int32Array.from({ length: length + 1 }, (_, i) => (i * 7919) % config.vocabSize);
  const params = opts.lora ? initTrainable(config, opts.lora.lora) : initParams(config);
  const features = drawFeatures(config);
  const reference = await createNaiveEngine(config, opts.lora).lossAndGrad(params, tokens, features);
  const got = await engine.lossAndGrad(params, tokens, features);
  const lossError = Math.abs(got.loss - reference.loss) / Math.max(1, Math.abs(reference.loss));
  const worst = maxGradRelativeError(got.grads, reference.grads);
  return {
    // Written so that NaN fails too.
    ok: lossError <= opts.tolerance && worst.error <= opts.tolerance,
    tokens: tokens.length,
    loss: finiteOrNull(got.loss),
    referenceLoss: reference.loss,
    lossError: finiteOrNull(lossError),
    worstTensor: worst.name,
    gradError: finiteOrNull(worst.error),
  };
}

/** The report in words, for the user (why the engine was not used). */
export function describeVerifyReport(report: VerifyReport): string {
  const show = (x: number | null, digits: number) => (x === null ? 'not finite' : x.toPrecision(digits));
  return (
    `probe step ${report.ok ? 'agrees' : 'disagrees'} with the reference: loss ${show(report.loss, 6)} vs ` +
    `${report.referenceLoss.toPrecision(6)}, gradient of ${report.worstTensor} off by ` +
    `${show(report.gradError, 3)} (relative)`
  );
}
