export { createSlimEngine, createFullEngine, SlimEngineOptions, FullEngineOptions } from './engine.js';
export type { EngineStats, StatsEngine } from './engine.js';
export { ChunkRunner, configureThreads } from './runner.js';
export type { Backend, PreparedSequence, ChunkForward, ChunkBackward, BackwardState } from './runner.js';
export { buildChunkGraph, paramLayout, stateSize } from './graphs.js';
export type { ChunkGraphKind, ParamSlot } from './graphs.js';
export { matmulPeakGflops } from './matmul.js';
export {
  EngineDisposedError,
  InvalidEngineOptionsError,
  InvalidFeaturesError,
  InvalidParamsError,
  InvalidStateError,
  InvalidTokensError,
} from './errors.js';
export { maxGradRelativeError, relativeError } from './compare.js';
