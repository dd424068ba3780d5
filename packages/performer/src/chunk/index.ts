export { createSlimEngine, createFullEngine, SlimEngineOptions, FullEngineOptions } from './engine.js';
export type { EngineStats, StatsEngine } from './engine.js';
export { ChunkRunner, configureThreads } from './runner.js';
export type {
  Backend,
  PreparedSequence,
  PreparedModel,
  ChunkForward,
  ChunkLogits,
  ChunkBackward,
  BackwardState,
} from './runner.js';
export {
  buildChunkGraph,
  chunkGraphBuilder,
  chunkLayouts,
  paramLayout,
  stateShape,
  stateSize,
} from './graphs.js';
export type { ChunkGraphKind, ParamLayout, ParamSlot } from './graphs.js';
export { embed, layerKeysValues, layerMix, lmHead, norm, positionsFrom, ropeRows } from './layers.js';
export type { KeysValues, LayerFeatureValues, ModelSource, Positions, Rows } from './layers.js';
export { CEILING_SHAPES, measureCeiling } from './ceiling.js';
export { flopsPerTokenOfStep, matmulFlops } from './flops.js';
export type { Ceiling, CeilingOptions, MatmulShape, ShapeRate } from './ceiling.js';
export { EngineDisposedError, InvalidEngineOptionsError, InvalidStateError } from './errors.js';
export { InvalidFeaturesError, InvalidParamsError, InvalidTokensError } from '../model/inputs.js';
export { maxGradRelativeError, relativeError } from './compare.js';
