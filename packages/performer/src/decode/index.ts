export { createDecoder, DecoderOptions } from './decoder.js';
export type { Decoder, GenerateOptions, GenerateResult, StopReason } from './decoder.js';
export { Sampler, SampleOptions, parseSampleOptions, samplingDistribution } from './sample.js';
export type { ResolvedSampleOptions } from './sample.js';
export { buildDecoderStepGraph, stepGraphSignature } from './graph.js';
export type { StepGraphValue } from './graph.js';
export {
  DecoderBusyError,
  DecoderDisposedError,
  EmptyPromptError,
  GenerationUnavailableError,
  InvalidDecoderOptionsError,
  InvalidLogitsError,
  InvalidSampleOptionsError,
} from './errors.js';
